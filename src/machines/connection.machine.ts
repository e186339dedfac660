import { assign, emit, enqueueActions, fromCallback, setup, type ActorRefFrom } from 'xstate';
import { requirePositive } from '../shared/check-settings.js';
import { randomStep } from '../shared/prng.js';
import { backoffDelay, type BackoffSettings } from './backoff.js';
import { RECONCILER_ID, peer, type LinkEvent, type OutboxEvent } from './protocol.js';

// The lifecycle of the one upstream connection. The socket itself is the invoked `socket` actor
// (src/services/polygon-socket.ts); this machine only decides. It tells the reconciler
// (systemId `reconciler`) when the connection is authenticated (CONNECTED) and when it is gone
// (DISCONNECTED), and forwards acknowledgements: "reconnect, then resubscribe from the SET" is
// the reconciler's answer to CONNECTED.
//
// Every close is attributed to a cause, and the wait before the next attempt follows the cause
// (shared/docs/upstream-protocol.md): the official clients reconnect at once after an
// established connection closes, so a connection that lived comes back within `backoff.baseMs`;
// only connections that die young, again and again, escalate the wait; a `max_connections` kick
// waits long so as not to kick the other holder of the key back. Slowing the send rate is the
// reconciler's business, and only on evidence: a 1008 right after a burst of our own messages.

export interface ConnectionSettings {
  /**
   * Reconnect waits: full jitter below min(maxMs, baseMs × 2^(attempt − 1)). Attempt 1 is a
   * connection that lived (a prompt return); each young death or failed connect adds one.
   */
  backoff: BackoffSettings;
  /** A connection closed sooner than this after auth_success died young. */
  youngDeathMs: number;
  /** Wait after a `max_connections` kick, ×2 per kick in a row up to ×8, plus up to 50 % jitter. */
  kickPenaltyMs: number;
  /** Time `live` must last before kicks are forgotten. */
  stableAfterMs: number;
  /** Upstream silence (no frame, no pong) that declares the socket dead. */
  heartbeatTimeoutMs: number;
  /** Time allowed from socket open to auth_success. */
  handshakeTimeoutMs: number;
  /** A bare 1008 that follows at least `burstMessages` of our messages within this window is blamed on our sends. */
  burstWindowMs: number;
  burstMessages: number;
}

export type ConnectionSettingsInput = Partial<Omit<ConnectionSettings, 'backoff'>> & { backoff?: Partial<BackoffSettings> };

export const defaultConnectionSettings: ConnectionSettings = {
  backoff: { baseMs: 500, maxMs: 30_000 },
  youngDeathMs: 5_000,
  kickPenaltyMs: 60_000,
  stableAfterMs: 120_000,
  heartbeatTimeoutMs: 45_000,
  handshakeTimeoutMs: 10_000,
  burstWindowMs: 1_000,
  burstMessages: 3,
};

/**
 * Defaults merged field by field (a partial `backoff` keeps the other default), then checked: a
 * NaN, negative or zero wait would be a tight reconnect loop, so it fails at creation instead.
 */
export function connectionSettingsOf(input: ConnectionSettingsInput | undefined): ConnectionSettings {
  const d = defaultConnectionSettings;
  const s: ConnectionSettings = { ...d, ...input, backoff: { ...d.backoff, ...input?.backoff } };
  const { backoff, ...rest } = s;
  requirePositive('connection', { 'backoff.baseMs': backoff.baseMs, 'backoff.maxMs': backoff.maxMs, ...rest });
  if (s.backoff.maxMs < s.backoff.baseMs) throw new Error('connection setting backoff.maxMs must not be below backoff.baseMs');
  return s;
}

/** Why a connection ended: what the upstream said before the close, or what the close looked like. */
export const CLOSE_CAUSES = [
  'max_connections',
  'slow_consumer',
  'force_disconnect',
  'auth_failed',
  'auth_timeout',
  /** A bare 1008 with no status before it. */
  'policy',
  /** A bare 1008 right after a burst of our own control messages: plausibly our doing. */
  'sent_burst',
  /** Any other close or drop of an open socket. */
  'network',
  /** The socket never opened. */
  'connect_failed',
  'heartbeat',
  'handshake_timeout',
] as const;

export type CloseCause = (typeof CLOSE_CAUSES)[number];

export type ReconnectKind = 'prompt' | 'escalated' | 'kick';

export interface LastClose {
  code: number;
  reason: string;
  cause: CloseCause;
  /** The connection had lived `youngDeathMs` past auth_success. */
  matured: boolean;
  /** Our messages within `burstWindowMs` before the close. */
  recentSends: number;
}

export interface ConnectionContext {
  settings: ConnectionSettings;
  /** PRNG state of the jitter: given from outside, so a run replays. */
  seed: number;
  /** Failed attempts in a row: 1 after a connection that lived, +1 per young death or failed connect. */
  attempt: number;
  /** The current connection has lived `youngDeathMs` past auth_success. */
  matured: boolean;
  /** The current socket has opened (so a close is not a failed connect). */
  opened: boolean;
  /** Our messages in the current burst window (the `sends` region). */
  windowSends: number;
  /**
   * The largest burst the upstream has taken without closing us within the burst window: a
   * close after no more than that is not blamed on our sends (a resubscription the upstream
   * accepted before is no evidence when a storm's close happens to follow it).
   */
  provenBurst: number;
  kicks: number;
  lastClose: LastClose | null;
  lastError: string | null;
  /** The wait of the current backoff state. */
  nextDelayMs: number;
}

export type UpstreamDropStatus = 'slow_consumer' | 'force_disconnect' | 'auth_timeout';

export type ConnectionEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  // from the socket actor
  | { type: 'UPSTREAM_CONNECTED' }
  | { type: 'AUTH_SUCCESS' }
  | { type: 'AUTH_FAILED'; message: string }
  | { type: 'KICKED'; message: string }
  | { type: 'UPSTREAM_DROPPED'; status: UpstreamDropStatus; message: string }
  /** `recentSendsMs`: how long before the close each of our recent messages went out, newest first. */
  | { type: 'SOCKET_CLOSED'; code: number; reason: string; recentSendsMs?: readonly number[] }
  | { type: 'HEARTBEAT' }
  | { type: 'ACKED'; subscribed: string[]; unsubscribed: string[] }
  // from the reconciler
  | OutboxEvent;

export type ConnectionEmitted =
  | { type: 'connected'; attempt: number }
  | { type: 'disconnected'; code: number; reason: string; cause: CloseCause; matured: boolean; recentSends: number }
  | { type: 'kicked'; message: string; kicks: number }
  | { type: 'auth_failed'; message: string }
  | { type: 'reconnecting'; attempt: number; delay_ms: number; kind: ReconnectKind; cause: CloseCause }
  | { type: 'live' }
  | { type: 'stable' };

/** What the socket actor receives from this machine. */
export type SocketCommand =
  | { type: 'AUTHENTICATE' }
  | { type: 'SEND'; action: 'subscribe' | 'unsubscribe'; symbols: string[] };

/** Placeholder logic so the machine is complete on its own; the real socket is provided by the service. */
const noSocket = fromCallback<SocketCommand>(() => () => undefined);

/** The close an event describes, attributed to its cause. */
export function closeOf(ctx: Pick<ConnectionContext, 'settings' | 'opened' | 'provenBurst'>, event: ConnectionEvent, timeout?: 'heartbeat' | 'handshake_timeout'): Omit<LastClose, 'matured'> & { error: string | null } {
  if (timeout === 'heartbeat') return { code: 4000, reason: 'heartbeat_timeout', cause: 'heartbeat', recentSends: 0, error: 'upstream silent: heartbeat timeout' };
  if (timeout === 'handshake_timeout') {
    return { code: 4001, reason: 'handshake_timeout', cause: 'handshake_timeout', recentSends: 0, error: 'no auth_success within the handshake timeout' };
  }
  switch (event.type) {
    case 'KICKED':
      return { code: 1008, reason: event.message, cause: 'max_connections', recentSends: 0, error: `max_connections: ${event.message}` };
    case 'UPSTREAM_DROPPED':
      return { code: 1008, reason: event.status, cause: event.status, recentSends: 0, error: `${event.status}: ${event.message}` };
    case 'AUTH_FAILED':
      return { code: 1008, reason: event.message, cause: 'auth_failed', recentSends: 0, error: `auth_failed: ${event.message}` };
    case 'SOCKET_CLOSED': {
      const window = ctx.settings.burstWindowMs;
      const recentSends = (event.recentSendsMs ?? []).filter((ago) => ago <= window).length;
      const cause: CloseCause = !ctx.opened
        ? 'connect_failed'
        : event.code !== 1008
          ? 'network'
          : recentSends >= ctx.settings.burstMessages && recentSends > ctx.provenBurst
            ? 'sent_burst'
            : 'policy';
      return { code: event.code, reason: event.reason, cause, recentSends, error: null };
    }
    default:
      return { code: 0, reason: event.type, cause: 'network', recentSends: 0, error: null };
  }
}

/** Full jitter below the attempt's ceiling; a kick waits its penalty, doubled per kick up to ×8, plus up to half again. */
export function reconnectDelay(s: ConnectionSettings, attempt: number, kicks: number, random: number): number {
  if (kicks > 0) return Math.floor(s.kickPenaltyMs * 2 ** Math.min(3, kicks - 1) * (1 + random / 2));
  return backoffDelay(attempt, s.backoff, () => random);
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as { settings?: ConnectionSettingsInput; seed?: number } | undefined,
    emitted: {} as ConnectionEmitted,
  },
  actors: { socket: noSocket },
  delays: {
    // Drawn once on entering the waiting state (see `planReconnect`), so the log line and the
    // inspector show the very wait that is applied.
    reconnectDelay: ({ context }) => context.nextDelayMs,
    heartbeatTimeout: ({ context }) => context.settings.heartbeatTimeoutMs,
    handshakeTimeout: ({ context }) => context.settings.handshakeTimeoutMs,
    stablePeriod: ({ context }) => context.settings.stableAfterMs,
    youngDeath: ({ context }) => context.settings.youngDeathMs,
    burstWindow: ({ context }) => context.settings.burstWindowMs,
  },
  actions: {
    recordClose: enqueueActions(({ enqueue, context, event, system }, params: { timeout?: 'heartbeat' | 'handshake_timeout' }) => {
      const { error, ...close } = closeOf(context, event, params.timeout);
      const lastClose: LastClose = { ...close, matured: context.matured };
      enqueue.assign({
        lastClose,
        lastError: error ?? context.lastError,
        // A kick is not our failure: it grows its own wait, not the backoff.
        attempt: close.cause === 'max_connections' ? context.attempt : context.matured ? 1 : context.attempt + 1,
        kicks: close.cause === 'max_connections' ? context.kicks + 1 : context.kicks,
      });
      enqueue.emit({ type: 'disconnected', code: close.code, reason: close.reason, cause: close.cause, matured: context.matured, recentSends: close.recentSends });
      if (close.cause === 'sent_burst') {
        const reconciler = peer(system, RECONCILER_ID);
        if (reconciler) enqueue.sendTo(reconciler, { type: 'SLOW_DOWN', recentSends: close.recentSends } satisfies LinkEvent);
      }
      if (event.type === 'KICKED') enqueue.emit({ type: 'kicked', message: event.message, kicks: context.kicks + 1 });
    }),
    planReconnect: enqueueActions(({ enqueue, context }) => {
      const { value, state } = randomStep(context.seed);
      const cause = context.lastClose?.cause ?? 'network';
      const kick = cause === 'max_connections';
      const delay = reconnectDelay(context.settings, context.attempt, kick ? context.kicks : 0, value);
      const kind: ReconnectKind = kick ? 'kick' : context.attempt <= 1 ? 'prompt' : 'escalated';
      enqueue.assign({ nextDelayMs: delay, seed: state });
      enqueue.emit({ type: 'reconnecting', attempt: context.attempt, delay_ms: delay, kind, cause });
    }),
    authenticate: enqueueActions(({ enqueue }) => enqueue.sendTo('socket', { type: 'AUTHENTICATE' } satisfies SocketCommand)),
    forwardSend: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'SEND') return;
      enqueue.sendTo('socket', { type: 'SEND', action: event.action, symbols: event.symbols } satisfies SocketCommand);
    }),
    notifyConnected: enqueueActions(({ enqueue, context, system }) => {
      const reconciler = peer(system, RECONCILER_ID);
      if (reconciler) enqueue.sendTo(reconciler, { type: 'CONNECTED' } satisfies LinkEvent);
      enqueue.emit({ type: 'connected', attempt: context.attempt });
    }),
    forwardAcks: enqueueActions(({ enqueue, event, system }) => {
      const reconciler = peer(system, RECONCILER_ID);
      if (event.type !== 'ACKED' || !reconciler) return;
      enqueue.sendTo(reconciler, event satisfies LinkEvent);
    }),
    notifyDisconnected: enqueueActions(({ enqueue, system }) => {
      const reconciler = peer(system, RECONCILER_ID);
      if (reconciler) enqueue.sendTo(reconciler, { type: 'DISCONNECTED' } satisfies LinkEvent);
    }),
    forgetKicks: enqueueActions(({ enqueue }) => {
      enqueue.assign({ kicks: 0 });
      enqueue.emit({ type: 'stable' });
    }),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    settings: connectionSettingsOf(input?.settings),
    seed: (input?.seed ?? 1) >>> 0,
    attempt: 0,
    matured: false,
    opened: false,
    windowSends: 0,
    provenBurst: 0,
    kicks: 0,
    lastClose: null,
    lastError: null,
    nextDelayMs: 0,
  }),
  initial: 'idle',
  on: {
    STOP: { target: '.stopped' },
  },
  states: {
    idle: {
      on: { START: 'open' },
    },
    open: {
      type: 'parallel',
      invoke: { id: 'socket', src: 'socket' },
      entry: assign({ matured: false, opened: false, windowSends: 0 }),
      // Leaving `open` stops the socket actor (its cleanup closes the socket) and, whatever the
      // cause, tells the reconciler that nothing is acknowledged any more.
      exit: 'notifyDisconnected',
      on: {
        SOCKET_CLOSED: { target: 'backoff', actions: { type: 'recordClose', params: {} } },
        KICKED: { target: 'kicked', actions: { type: 'recordClose', params: {} } },
        // slow_consumer is fixed on the read path, not by waiting: it reconnects like any close.
        UPSTREAM_DROPPED: { target: 'backoff', actions: { type: 'recordClose', params: {} } },
        AUTH_FAILED: {
          target: 'authFailed',
          actions: [
            { type: 'recordClose', params: {} },
            emit(({ event }) => ({ type: 'auth_failed' as const, message: event.message })),
          ],
        },
        ACKED: { actions: 'forwardAcks' },
      },
      states: {
        phase: {
          initial: 'connecting',
          states: {
            connecting: {
              on: { UPSTREAM_CONNECTED: 'authenticating' },
            },
            authenticating: {
              // As the official JS and Go clients do: auth goes out as soon as the socket is
              // open, whatever the first status says (`connected`, or `success` in the spec).
              entry: [assign({ opened: true }), 'authenticate'],
              on: { AUTH_SUCCESS: { target: 'syncing', actions: 'notifyConnected' } },
            },
            syncing: {
              on: { SEND: { actions: 'forwardSend' }, SYNCED: 'live' },
            },
            live: {
              entry: emit({ type: 'live' as const }),
              on: { SEND: { actions: 'forwardSend' } },
              after: { stablePeriod: { actions: 'forgetKicks' } },
            },
          },
        },
        sends: {
          // Counts our messages per burst window; a window the connection outlived proves that
          // burst acceptable.
          initial: 'quiet',
          states: {
            quiet: { on: { SEND: { target: 'counting', actions: assign({ windowSends: 1 }) } } },
            counting: {
              on: { SEND: { actions: assign({ windowSends: ({ context }) => context.windowSends + 1 }) } },
              after: {
                burstWindow: {
                  target: 'quiet',
                  actions: assign({ provenBurst: ({ context }) => Math.max(context.provenBurst, context.windowSends), windowSends: 0 }),
                },
              },
            },
          },
        },
        age: {
          // Mirrored in `matured`: a connection that lived is answered by a prompt return.
          initial: 'unborn',
          states: {
            unborn: { on: { AUTH_SUCCESS: 'young' } },
            young: { after: { youngDeath: { target: 'mature', actions: assign({ matured: true }) } } },
            mature: {},
          },
        },
        watchdog: {
          initial: 'watching',
          states: {
            watching: {
              on: { HEARTBEAT: { target: 'watching', reenter: true } },
              after: {
                heartbeatTimeout: { target: '#connection.backoff', actions: { type: 'recordClose', params: { timeout: 'heartbeat' } } },
              },
            },
          },
        },
        handshake: {
          // A server that accepts the socket but never completes auth must not hold us forever.
          initial: 'pending',
          states: {
            pending: {
              on: { AUTH_SUCCESS: 'done' },
              after: {
                handshakeTimeout: {
                  target: '#connection.backoff',
                  actions: { type: 'recordClose', params: { timeout: 'handshake_timeout' } },
                },
              },
            },
            done: {},
          },
        },
      },
    },
    backoff: {
      entry: 'planReconnect',
      after: { reconnectDelay: 'open' },
    },
    kicked: {
      // Another client authenticated with our key. Reconnecting at once would kick it in turn:
      // the 1008 storm of the seeds. Wait long, growing with each kick.
      entry: 'planReconnect',
      after: { reconnectDelay: 'open' },
    },
    authFailed: {
      // Terminal until the configuration changes (a restart with a valid key): retrying a
      // rejected key only risks the account being locked.
    },
    stopped: { type: 'final' },
  },
});

export type ConnectionMachine = typeof connectionMachine;
export type ConnectionActor = ActorRefFrom<ConnectionMachine>;
