import { assign, emit, enqueueActions, fromCallback, setup, type ActorRefFrom } from 'xstate';
import { backoffDelay, type BackoffSettings } from './backoff.js';
import { RECONCILER_ID, peer, type LinkEvent, type OutboxEvent } from './protocol.js';

// The lifecycle of the one upstream connection. The socket itself is the invoked `socket` actor
// (src/services/polygon-socket.ts); this machine only decides. It tells the reconciler
// (systemId `reconciler`) when the connection is authenticated (CONNECTED) and when it is gone
// (DISCONNECTED), and forwards acknowledgements: "reconnect, then resubscribe from the SET" is
// the reconciler's answer to CONNECTED.

export interface ConnectionSettings {
  backoff: BackoffSettings;
  /** Least wait after a 1008 (policy) close: the upstream asked us to slow down. */
  policyPenaltyMs: number;
  /** Ceiling of the policy penalty, however many 1008 closes in a row. */
  maxPolicyPenaltyMs: number;
  /** Wait after a `max_connections` kick: another client holds the key; do not kick it back at once. */
  kickPenaltyMs: number;
  /** Time `live` must last before attempts and 1008 strikes are forgotten. */
  stableAfterMs: number;
  /** Upstream silence (no frame, no pong) that declares the socket dead. */
  heartbeatTimeoutMs: number;
  /** Time allowed from socket open to auth_success. */
  handshakeTimeoutMs: number;
  /** Largest slow-down of the subscribe pace after repeated 1008 closes. */
  maxPaceMultiplier: number;
}

export const defaultConnectionSettings: ConnectionSettings = {
  backoff: { baseMs: 500, maxMs: 30_000 },
  policyPenaltyMs: 5_000,
  maxPolicyPenaltyMs: 120_000,
  kickPenaltyMs: 60_000,
  stableAfterMs: 120_000,
  heartbeatTimeoutMs: 45_000,
  handshakeTimeoutMs: 10_000,
  maxPaceMultiplier: 8,
};

export type CloseCause = 'closed' | 'policy' | 'heartbeat' | 'handshake_timeout' | 'kicked' | 'dropped' | 'auth_failed' | 'stopped';

export interface ConnectionContext {
  settings: ConnectionSettings;
  /** Failed attempts since the connection was last stable: drives the backoff. */
  attempt: number;
  /** 1008 closes since the connection was last stable: drive the penalty and the pace. */
  policyStrikes: number;
  kicks: number;
  reconnections: number;
  closesByCode: Record<string, number>;
  lastClose: { code: number; reason: string; cause: CloseCause } | null;
  lastError: string | null;
  /** The wait of the current backoff state. */
  nextDelayMs: number;
}

export type ConnectionEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  // from the socket actor
  | { type: 'UPSTREAM_CONNECTED' }
  | { type: 'AUTH_SUCCESS' }
  | { type: 'AUTH_FAILED'; message: string }
  | { type: 'KICKED'; message: string }
  | { type: 'UPSTREAM_DROPPED'; status: 'slow_consumer' | 'force_disconnect'; message: string }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string }
  | { type: 'HEARTBEAT' }
  | { type: 'ACKED'; subscribed: string[]; unsubscribed: string[] }
  // from the reconciler
  | OutboxEvent;

export type ConnectionEmitted =
  | { type: 'connected'; attempt: number; paceMultiplier: number }
  | { type: 'disconnected'; code: number; reason: string; cause: CloseCause; }
  | { type: 'kicked'; message: string; kicks: number }
  | { type: 'auth_failed'; message: string }
  | { type: 'reconnecting'; attempt: number; delay_ms: number; kind: 'backoff' | 'policy' | 'kick' }
  | { type: 'live' }
  | { type: 'stable' };

/** What the socket actor receives from this machine. */
export type SocketCommand =
  | { type: 'AUTHENTICATE' }
  | { type: 'SEND'; action: 'subscribe' | 'unsubscribe'; symbols: string[] };

export function paceMultiplier(ctx: Pick<ConnectionContext, 'policyStrikes' | 'settings'>): number {
  return Math.min(ctx.settings.maxPaceMultiplier, 2 ** ctx.policyStrikes);
}

/** Placeholder logic so the machine is complete on its own; the real socket is provided by the service. */
const noSocket = fromCallback<SocketCommand>(() => () => undefined);

/** What a lost connection changes, by cause: the close's code and reason, counters, the error shown. */
function closeOf(ctx: ConnectionContext, event: ConnectionEvent, cause: CloseCause) {
  const [code, reason, error]: [number, string, string | null] =
    event.type === 'SOCKET_CLOSED'
      ? [event.code, event.reason, null]
      : event.type === 'KICKED'
        ? [1008, event.message, `max_connections: ${event.message}`]
        : event.type === 'UPSTREAM_DROPPED'
          ? [1008, event.status, `${event.status}: ${event.message}`]
          : cause === 'heartbeat'
            ? [4000, 'heartbeat_timeout', 'upstream silent: heartbeat timeout']
            : [4001, 'handshake_timeout', 'no auth_success within the handshake timeout'];
  const key = String(code);
  const strike = cause === 'policy' || cause === 'dropped';
  return {
    update: {
      closesByCode: { ...ctx.closesByCode, [key]: (ctx.closesByCode[key] ?? 0) + 1 },
      lastClose: { code, reason, cause },
      // A kick is not our failure: it grows its own wait, not the backoff.
      attempt: cause === 'kicked' ? ctx.attempt : ctx.attempt + 1,
      policyStrikes: strike ? ctx.policyStrikes + 1 : ctx.policyStrikes,
      kicks: cause === 'kicked' ? ctx.kicks + 1 : ctx.kicks,
      lastError: error ?? ctx.lastError,
    },
    emitted: { type: 'disconnected' as const, code, reason, cause },
  };
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as { settings?: Partial<ConnectionSettings> } | undefined,
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
  },
  guards: {
    isPolicyClose: ({ event }) => event.type === 'SOCKET_CLOSED' && event.code === 1008,
  },
  actions: {
    recordClose: enqueueActions(({ enqueue, context, event }, params: { cause: CloseCause }) => {
      const { update, emitted } = closeOf(context, event, params.cause);
      enqueue.assign(update);
      enqueue.emit(emitted);
      if (event.type === 'KICKED') enqueue.emit({ type: 'kicked', message: event.message, kicks: update.kicks });
    }),
    planReconnect: enqueueActions(({ enqueue, context }, params: { kind: 'backoff' | 'policy' | 'kick' }) => {
      const jittered = backoffDelay(context.attempt, context.settings.backoff, Math.random);
      const delay =
        params.kind === 'kick'
          ? context.settings.kickPenaltyMs * Math.min(8, 2 ** Math.max(0, context.kicks - 1))
          : params.kind === 'policy'
            ? Math.max(
                Math.min(context.settings.maxPolicyPenaltyMs, context.settings.policyPenaltyMs * 2 ** Math.min(20, Math.max(0, context.policyStrikes - 1))),
                jittered,
              )
            : jittered;
      enqueue.assign({ nextDelayMs: delay, reconnections: context.reconnections + 1 });
      enqueue.emit({ type: 'reconnecting', attempt: context.attempt, delay_ms: delay, kind: params.kind });
    }),
    authenticate: enqueueActions(({ enqueue }) => enqueue.sendTo('socket', { type: 'AUTHENTICATE' } satisfies SocketCommand)),
    forwardSend: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'SEND') return;
      enqueue.sendTo('socket', { type: 'SEND', action: event.action, symbols: event.symbols } satisfies SocketCommand);
    }),
    notifyConnected: enqueueActions(({ enqueue, context, system }) => {
      const mult = paceMultiplier(context);
      const reconciler = peer(system, RECONCILER_ID);
      if (reconciler) enqueue.sendTo(reconciler, { type: 'CONNECTED', paceMultiplier: mult } satisfies LinkEvent);
      enqueue.emit({ type: 'connected', attempt: context.attempt, paceMultiplier: mult });
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
    forgetFailures: enqueueActions(({ enqueue, context, system }) => {
      const hadStrikes = context.policyStrikes > 0;
      enqueue.assign({ attempt: 0, policyStrikes: 0, kicks: 0 });
      const reconciler = peer(system, RECONCILER_ID);
      if (hadStrikes && reconciler) enqueue.sendTo(reconciler, { type: 'PACE', paceMultiplier: 1 } satisfies LinkEvent);
      enqueue.emit({ type: 'stable' });
    }),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    settings: { ...defaultConnectionSettings, ...input?.settings },
    attempt: 0,
    policyStrikes: 0,
    kicks: 0,
    reconnections: 0,
    closesByCode: {},
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
      // Leaving `open` stops the socket actor (its cleanup closes the socket) and, whatever the
      // cause, tells the reconciler that nothing is acknowledged any more.
      exit: 'notifyDisconnected',
      on: {
        SOCKET_CLOSED: [
          { guard: 'isPolicyClose', target: 'policyBackoff', actions: { type: 'recordClose', params: { cause: 'policy' } } },
          { target: 'backoff', actions: { type: 'recordClose', params: { cause: 'closed' } } },
        ],
        KICKED: { target: 'kicked', actions: { type: 'recordClose', params: { cause: 'kicked' } } },
        // slow_consumer is the upstream's policy (we read too slowly): penalised like a 1008.
        UPSTREAM_DROPPED: { target: 'policyBackoff', actions: { type: 'recordClose', params: { cause: 'dropped' } } },
        AUTH_FAILED: {
          target: 'authFailed',
          actions: [
            assign(({ event }) => ({ lastError: `auth_failed: ${event.message}` })),
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
              entry: 'authenticate',
              on: { AUTH_SUCCESS: { target: 'syncing', actions: 'notifyConnected' } },
            },
            syncing: {
              on: { SEND: { actions: 'forwardSend' }, SYNCED: 'live' },
            },
            live: {
              entry: emit({ type: 'live' as const }),
              on: { SEND: { actions: 'forwardSend' } },
              after: { stablePeriod: { actions: 'forgetFailures' } },
            },
          },
        },
        watchdog: {
          initial: 'watching',
          states: {
            watching: {
              on: { HEARTBEAT: { target: 'watching', reenter: true } },
              after: {
                heartbeatTimeout: { target: '#connection.backoff', actions: { type: 'recordClose', params: { cause: 'heartbeat' } } },
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
                  actions: { type: 'recordClose', params: { cause: 'handshake_timeout' } },
                },
              },
            },
            done: {},
          },
        },
      },
    },
    backoff: {
      entry: { type: 'planReconnect', params: { kind: 'backoff' } },
      after: { reconnectDelay: 'open' },
    },
    policyBackoff: {
      entry: { type: 'planReconnect', params: { kind: 'policy' } },
      after: { reconnectDelay: 'open' },
    },
    kicked: {
      // Another client authenticated with our key. Reconnecting at once would kick it in turn:
      // the 1008 storm of the seeds. Wait long, growing with each kick.
      entry: { type: 'planReconnect', params: { kind: 'kick' } },
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
