// The upstream's wire protocol (shared/docs/upstream-protocol.md), defined once: what the client
// sends, how a server frame is parsed and validated. The polygon-ws service and the simulator
// both use it, so they cannot drift apart.

/** livescan uses per-second aggregates. */
export const AGGREGATE_EVENT = 'A';

export type ClientAction = 'auth' | 'subscribe' | 'unsubscribe';

export interface ClientMessage {
  action: ClientAction;
  params: string;
}

/**
 * An upper-case ASCII letter (the root: every US listing's root is upper case), then up to 15 ASCII
 * letters of either case, digits and `.` `-` `/`. Lower case only after the root: the provider's
 * (CQS) suffixes, preferred `p` (`AMpB`), rights `r`, when-issued `w`; classes and warrants
 * after a dot (`BRK.B`, `XYZ.WS`). What cannot be a symbol fails: empty, whitespace, a comma
 * (it would split a channel list), `*` (the wildcard), control or non-ASCII characters, more
 * than 16 characters.
 */
const SYMBOL_RE = /^[A-Z][A-Za-z0-9.\-/]{0,15}$/;

/**
 * Ticker symbols as the upstream spells them. Symbols are CASE-SENSITIVE upstream (`AMpB` and
 * `AMPB` are two symbols): a symbol is checked as it is, and never upper-cased, here or anywhere.
 */
export function isValidSymbol(s: unknown): s is string {
  return typeof s === 'string' && SYMBOL_RE.test(s);
}

export function channelOf(symbol: string, ev: string = AGGREGATE_EVENT): string {
  return `${ev}.${symbol}`;
}

/** `A.AAPL` → `AAPL`; null for another event type or a malformed channel. */
export function symbolOfChannel(channel: string, ev: string = AGGREGATE_EVENT): string | null {
  const prefix = `${ev}.`;
  if (!channel.startsWith(prefix)) return null;
  const sym = channel.slice(prefix.length);
  return isValidSymbol(sym) ? sym : null;
}

export function encodeAuth(apiKey: string): string {
  return JSON.stringify({ action: 'auth', params: apiKey } satisfies ClientMessage);
}

export function encodeSubscription(action: 'subscribe' | 'unsubscribe', symbols: readonly string[]): string {
  return JSON.stringify({ action, params: symbols.map((s) => channelOf(s)).join(',') } satisfies ClientMessage);
}

/** Parse a client frame (the simulator's side). */
export function decodeClientMessage(raw: string): ClientMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const { action, params } = v as Record<string, unknown>;
  if (action !== 'auth' && action !== 'subscribe' && action !== 'unsubscribe') return null;
  if (typeof params !== 'string') return null;
  return { action, params };
}

export function splitChannels(params: string): string[] {
  return params
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
}

/** A per-second aggregate, validated; `raw` is the event exactly as the upstream sent it. */
export interface Aggregate {
  sym: string;
  o: number;
  c: number;
  h: number;
  l: number;
  v: number;
  s: number;
  e: number;
  raw: Record<string, unknown>;
}

export type StatusKind =
  | 'connected'
  | 'auth_success'
  | 'auth_failed'
  | 'auth_timeout'
  | 'auth_required'
  | 'subscribed'
  | 'unsubscribed'
  | 'max_connections'
  | 'force_disconnect'
  | 'slow_consumer'
  | 'error'
  | 'other';

export interface StatusEvent {
  kind: StatusKind;
  status: string;
  message: string;
  /** For `subscribed` / `unsubscribed`: the symbols of the acknowledged A channels. */
  symbols?: string[];
}

export interface DecodedFrame {
  aggregates: Aggregate[];
  statuses: StatusEvent[];
  /** Events that were not understood: counted and logged by the caller, never fatal. */
  rejected: { reason: string; sample: string }[];
}

const NUM_FIELDS = ['o', 'c', 'h', 'l', 'v', 's', 'e'] as const;

function sample(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    // Nesting too deep for JSON.stringify: String() would recurse the same way (arrays) or call
    // a `toString` field the sender chose, and throw; the tag alone cannot.
    s = Object.prototype.toString.call(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function decodeStatus(ev: Record<string, unknown>): StatusEvent {
  const status = typeof ev.status === 'string' ? ev.status : '';
  const message = typeof ev.message === 'string' ? ev.message : '';
  const base = { status, message };
  switch (status) {
    case 'connected':
      return { kind: 'connected', ...base };
    case 'auth_success':
      return { kind: 'auth_success', ...base };
    case 'auth_failed':
      return { kind: 'auth_failed', ...base };
    case 'auth_timeout':
      return { kind: 'auth_timeout', ...base };
    case 'auth_required':
      return { kind: 'auth_required', ...base };
    case 'max_connections':
      return { kind: 'max_connections', ...base };
    case 'force_disconnect':
      return { kind: 'force_disconnect', ...base };
    case 'slow_consumer':
      return { kind: 'slow_consumer', ...base };
    case 'success': {
      const m = /^(subscribed|unsubscribed) to: (.*)$/.exec(message);
      if (m) {
        const symbols = splitChannels(m[2] ?? '')
          .map((c) => symbolOfChannel(c))
          .filter((s): s is string => s !== null);
        return { kind: m[1] === 'subscribed' ? 'subscribed' : 'unsubscribed', symbols, ...base };
      }
      // The provider's spec shows the first status as `success` "Connected Successfully".
      if (/connected/i.test(message)) return { kind: 'connected', ...base };
      return { kind: 'other', ...base };
    }
    default:
      if (/no authentication request received/i.test(message)) return { kind: 'auth_timeout', ...base };
      if (status === 'error') return { kind: 'error', ...base };
      return { kind: 'other', ...base };
  }
}

/** Parse one server frame. Never throws: what cannot be understood lands in `rejected`. */
export function decodeServerFrame(raw: string): DecodedFrame {
  const out: DecodedFrame = { aggregates: [], statuses: [], rejected: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    out.rejected.push({ reason: 'invalid_json', sample: sample(raw) });
    return out;
  }
  if (!Array.isArray(parsed)) {
    out.rejected.push({ reason: 'not_an_array', sample: sample(parsed) });
    return out;
  }
  for (const item of parsed) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      out.rejected.push({ reason: 'event_not_an_object', sample: sample(item) });
      continue;
    }
    const ev = item as Record<string, unknown>;
    if (ev.ev === 'status') {
      out.statuses.push(decodeStatus(ev));
    } else if (ev.ev === AGGREGATE_EVENT) {
      if (!isValidSymbol(ev.sym)) {
        out.rejected.push({ reason: 'aggregate_bad_symbol', sample: sample(ev) });
        continue;
      }
      const bad = NUM_FIELDS.find((f) => typeof ev[f] !== 'number' || !Number.isFinite(ev[f]));
      if (bad) {
        out.rejected.push({ reason: `aggregate_bad_field_${bad}`, sample: sample(ev) });
        continue;
      }
      out.aggregates.push({
        sym: ev.sym,
        o: ev.o as number,
        c: ev.c as number,
        h: ev.h as number,
        l: ev.l as number,
        v: ev.v as number,
        s: ev.s as number,
        e: ev.e as number,
        raw: ev,
      });
    } else {
      out.rejected.push({ reason: 'unknown_event_type', sample: sample(ev) });
    }
  }
  return out;
}

/** Server-side encoders, for the simulator: the exact texts of the protocol page. */
export const serverEvents = {
  connected: () => ({ ev: 'status', status: 'connected', message: 'Connected Successfully' }),
  /** The first status as the provider's machine-readable spec shows it. */
  connectedSuccess: () => ({ ev: 'status', status: 'success', message: 'Connected Successfully' }),
  authSuccess: () => ({ ev: 'status', status: 'auth_success', message: 'authenticated' }),
  authFailed: () => ({ ev: 'status', status: 'auth_failed', message: 'authentication failed' }),
  authTimeout: () => ({ ev: 'status', status: 'error', message: 'No authentication request received.' }),
  notAuthorized: () => ({ ev: 'status', status: 'error', message: 'not authorized' }),
  subscribed: (channel: string) => ({ ev: 'status', status: 'success', message: `subscribed to: ${channel}` }),
  unsubscribed: (channel: string) => ({ ev: 'status', status: 'success', message: `unsubscribed to: ${channel}` }),
  maxConnections: () => ({
    ev: 'status',
    status: 'max_connections',
    message:
      'Maximum number of websocket connections exceeded. You have reached the connection limit for your account. Please contact support at https://polygon.io/contact to increase your limit.',
  }),
  slowConsumer: () => ({ ev: 'status', status: 'slow_consumer', message: 'slow consumer' }),
  forceDisconnect: () => ({ ev: 'status', status: 'force_disconnect', message: 'force disconnect' }),
} as const;
