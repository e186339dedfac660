import { isCategory, type Category } from '../shared/redis-keys.js';

// The browser client protocol of shared/docs/contract.md, both directions: what a client may ask
// (parsed and validated here, never trusted) and the exact messages the server sends. Names are
// the contract's, byte for byte.

/** Most list names one request may carry; there are eleven lists, so more is abuse. */
export const MAX_LISTS_PER_REQUEST = 32;
/** Longest list name echoed back in an error. */
const ECHO_MAX = 40;

export type ClientErrorCode =
  | 'invalid_json'
  | 'invalid_message'
  | 'unknown_action'
  | 'unknown_list'
  | 'not_subscribed'
  | 'too_many_lists'
  | 'invalid_batch'
  | 'binary_not_supported';

export type ClientRequest =
  /** `batch`: true, this connection's live prices come as `aggregates` frames from now on; false, as `aggregate` messages again; absent, unchanged. */
  | { action: 'subscribe'; lists: Category[]; unknown: string[]; batch?: boolean }
  | { action: 'unsubscribe' | 'resync'; lists: Category[]; unknown: string[] }
  | { action: 'ping' };

export type ParsedClientMessage =
  | { ok: true; request: ClientRequest }
  | { ok: false; code: ClientErrorCode; message: string };

function refuse(code: ClientErrorCode, message: string): ParsedClientMessage {
  return { ok: false, code, message };
}

function splitLists(names: readonly string[]): { lists: Category[]; unknown: string[] } {
  const lists: Category[] = [];
  const unknown: string[] = [];
  for (const n of names) {
    if (isCategory(n)) {
      if (!lists.includes(n)) lists.push(n);
    } else if (!unknown.includes(n)) {
      unknown.push(n);
    }
  }
  return { lists, unknown };
}

function listNames(v: unknown): string[] | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LISTS_PER_REQUEST) return null;
  if (!v.every((x): x is string => typeof x === 'string')) return null;
  return v;
}

/** Parse one text frame of a client. Never throws. */
export function parseClientMessage(text: string): ParsedClientMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return refuse('invalid_json', 'message is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return refuse('invalid_message', 'message must be a JSON object with an "action"');
  }
  // Own properties only: a hostile `__proto__` key must not reach anything.
  const action = Object.prototype.hasOwnProperty.call(v, 'action') ? (v as { action: unknown }).action : undefined;
  const get = (k: string): unknown =>
    Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
  switch (action) {
    case 'subscribe':
    case 'unsubscribe': {
      const names = listNames(get('lists'));
      if (!names) {
        return refuse('invalid_message', `"${action}" needs "lists": an array of 1 to ${MAX_LISTS_PER_REQUEST} list names`);
      }
      if (action === 'unsubscribe') return { ok: true, request: { action, ...splitLists(names) } };
      // The whole request is refused, not half-applied: the client learns its option was wrong.
      const batch = get('batch');
      if (batch !== undefined && typeof batch !== 'boolean') return refuse('invalid_batch', '"batch" must be true or false');
      return { ok: true, request: batch === undefined ? { action, ...splitLists(names) } : { action, ...splitLists(names), batch } };
    }
    case 'resync': {
      const one = get('list');
      const names = typeof one === 'string' ? [one] : listNames(get('lists'));
      if (!names) return refuse('invalid_message', '"resync" needs "list": a list name');
      return { ok: true, request: { action, ...splitLists(names) } };
    }
    case 'ping':
      return { ok: true, request: { action } };
    default:
      return refuse(
        'unknown_action',
        typeof action === 'string'
          ? `unknown action ${JSON.stringify(echo(action))} (subscribe, unsubscribe, resync, ping)`
          : 'message needs an "action" (subscribe, unsubscribe, resync, ping)',
      );
  }
}

/** A client-supplied string made safe to repeat: bounded and free of control characters. */
export function echo(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return clean.length > ECHO_MAX ? `${clean.slice(0, ECHO_MAX)}…` : clean;
}

export function unknownListsMessage(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((n) => JSON.stringify(echo(n)));
  const more = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return `unknown list${names.length > 1 ? 's' : ''}: ${shown.join(', ')}${more}`;
}

// ---- server -> client -------------------------------------------------------------------

/** A live price as clients receive it: `price` is the aggregate's close `c`, `time` its end `e`. */
export interface ClientAggregate {
  symbol: string;
  price: number;
  time: number;
  volume?: number;
}

/** `rowsJson` is the JSON array of rows, serialised once by the list store. */
export function encodeSnapshot(list: Category, sequence: number, rowsJson: string): string {
  return `{"type":"snapshot","list":${JSON.stringify(list)},"sequence":${sequence},"rows":${rowsJson}}`;
}

export function encodeDelta(msg: {
  list: Category;
  sequence: number;
  deltas: readonly unknown[];
  change_count: number;
}): string {
  return JSON.stringify({
    type: 'delta',
    list: msg.list,
    sequence: msg.sequence,
    deltas: msg.deltas,
    change_count: msg.change_count,
  });
}

/** One price as an item of an `aggregates` frame; the `aggregate` message is the same object with `type` first. */
export function encodeAggregateItem(a: ClientAggregate): string {
  return JSON.stringify({ symbol: a.symbol, price: a.price, time: a.time, volume: a.volume });
}

/** The `aggregate` message of an item encoded by encodeAggregateItem. */
export function aggregateMessage(item: string): string {
  return `{"type":"aggregate",${item.slice(1)}`;
}

export function encodeAggregate(a: ClientAggregate): string {
  return aggregateMessage(encodeAggregateItem(a));
}

const AGGREGATES_HEAD = Buffer.from('{"type":"aggregates","items":[');
const AGGREGATES_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/**
 * `aggregates` frames holding `items` (encoded by encodeAggregateItem) in order, each frame at
 * most `maxBytes` long unless a single item is longer (then that item goes alone).
 */
export function encodeAggregatesFrames(items: readonly string[], maxBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  const close = () => {
    if (parts.length === 0) return;
    parts.push(AGGREGATES_TAIL);
    frames.push(Buffer.concat(parts, size + AGGREGATES_TAIL.length));
    parts = [];
  };
  for (const item of items) {
    const b = Buffer.from(item, 'utf8');
    if (parts.length > 0 && size + COMMA.length + b.length + AGGREGATES_TAIL.length > maxBytes) close();
    if (parts.length === 0) {
      parts.push(AGGREGATES_HEAD);
      size = AGGREGATES_HEAD.length;
    } else {
      parts.push(COMMA);
      size += COMMA.length;
    }
    parts.push(b);
    size += b.length;
  }
  close();
  return frames;
}

export function encodeError(code: ClientErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', message, code });
}

export const PONG_MESSAGE = '{"type":"pong"}';
