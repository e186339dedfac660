import { assign, enqueueActions, fromPromise, not, raise, setup, type ActorRefFrom } from 'xstate';
import { requirePositive } from '../shared/check-settings.js';
import { CONNECTION_ID, peer, type LinkEvent, type OutboxEvent } from './protocol.js';
import { applyAcks, hasInFlight, hasPending, takeBatches } from '../subscriptions/subscription-batcher.js';
import {
  addToken,
  burstOf,
  checkFlowSettings,
  defaultFlowSettings,
  initialFlow,
  ratePerSecond,
  recover,
  refillDelayMs,
  slowDown,
  spend,
  type Flow,
  type FlowSettings,
} from '../subscriptions/flow-control.js';
import {
  countOf,
  emptyBook,
  gapOf,
  reconcileBook,
  refreshPending,
  toSymbolSet,
  type SubAction,
  type SubscriptionBook,
  type SymbolSet,
} from '../subscriptions/subscription-book.js';

// Keeps what the upstream has acknowledged equal to the SET `polygon_ws:active_tickers`.
// Six regions run side by side:
// - link: offline/online, from the connection's CONNECTED / DISCONNECTED. On CONNECTED the book
//   is empty and `desired` unknown: only a fresh read of the SET fills it (never memory).
// - loop: reads the whole SET every interval, on FORCE, and at once on CONNECTED.
// - outbox: sends what is pending at once, as many messages as the bucket and the window of
//   unacknowledged channels allow.
// - bucket: gains one message every 1/rate s up to the burst (src/subscriptions/flow-control.ts).
// - pace: the rate factor; SLOW_DOWN (a close our burst plausibly caused) halves it, each quiet
//   period gives a step back.
// - presence: a missing or empty SET (a non-atomic scanner between DEL and SADD, a scanner that
//   died an hour ago) is doubted for a grace period before it is believed.

export interface ReconcilerSettings {
  intervalMs: number;
  /** Re-read delay after a failed read or while the SET is missing. */
  retryMs: number;
  /** Most channels in one upstream message. */
  batchSize: number;
  /** Most channels sent and not yet acknowledged: acks come back in bounded bites. */
  maxInFlight: number;
  emptySetGraceMs: number;
  flow: FlowSettings;
}

export type ReconcilerSettingsInput = Partial<Omit<ReconcilerSettings, 'flow'>> & { flow?: Partial<FlowSettings> };

/** Far below the upstream's 1 MB per message: 10,000 channels of the longest symbols are under 200 KB. */
export const MAX_CHANNELS_PER_MESSAGE = 10_000;

export const defaultReconcilerSettings: ReconcilerSettings = {
  intervalMs: 30_000,
  retryMs: 1_000,
  batchSize: 1_000,
  maxInFlight: 10_000,
  emptySetGraceMs: 60_000,
  flow: defaultFlowSettings,
};

/** Defaults merged field by field, then checked: a zero or NaN setting would stall or spin the outbox. */
export function reconcilerSettingsOf(input: ReconcilerSettingsInput | undefined): ReconcilerSettings {
  const d = defaultReconcilerSettings;
  const s: ReconcilerSettings = { ...d, ...input, flow: checkFlowSettings({ ...d.flow, ...input?.flow }) };
  requirePositive('reconciler', { intervalMs: s.intervalMs, retryMs: s.retryMs, batchSize: s.batchSize, maxInFlight: s.maxInFlight });
  if (!Number.isFinite(s.emptySetGraceMs) || s.emptySetGraceMs < 0) throw new Error('reconciler setting emptySetGraceMs must be 0 or more');
  if (s.batchSize > MAX_CHANNELS_PER_MESSAGE) throw new Error(`reconciler setting batchSize must not exceed ${MAX_CHANNELS_PER_MESSAGE}`);
  return s;
}

/** One observation of the SET. `obs` orders observations as Redis executed them. */
export interface SetRead {
  obs: number;
  exists: boolean;
  members: string[];
  /** ISO time of the read. */
  at: string;
}

export type ReconcileStatus = 'ok' | 'resubscribe' | 'set_missing' | 'set_empty_accepted' | 'read_failed';

export interface ReconcileResult {
  status: ReconcileStatus;
  at: string | null;
  cycle: number;
  connected: boolean;
  desired: number;
  acknowledged: number;
  in_flight: number;
  pending: number;
  drift: number;
  missing: string[];
  extra: string[];
  corrections: number;
  error?: string;
}

export interface ReconcilerMetrics {
  reconciliations_count: number;
  total_drift_detected: number;
  total_corrections: number;
  last_reconciliation: string | null;
  resubscriptions: number;
  set_missing_reads: number;
  read_failures: number;
  hints_applied: number;
  hints_ignored: number;
  batches_sent: number;
  channels_sent: number;
  slow_downs: number;
}

export const emptyReconcilerMetrics: ReconcilerMetrics = {
  reconciliations_count: 0,
  total_drift_detected: 0,
  total_corrections: 0,
  last_reconciliation: null,
  resubscriptions: 0,
  set_missing_reads: 0,
  read_failures: 0,
  hints_applied: 0,
  hints_ignored: 0,
  batches_sent: 0,
  channels_sent: 0,
  slow_downs: 0,
};

export interface ReconcilerContext {
  settings: ReconcilerSettings;
  book: SubscriptionBook;
  /** The token bucket and its rate factor. */
  flow: Flow;
  /** The action of the last message sent: the next one prefers the other. */
  lastAction: SubAction | null;
  cycle: number;
  /** `obs` of the last full read applied; hints observed before it are stale. */
  observed: number;
  /** Hints newer than the last full read: they survive a read that Redis executed before them. */
  recentHints: Record<string, { obs: number; member: boolean }>;
  retrySoon: boolean;
  /** Mirrors `link.online`. */
  online: boolean;
  /** Mirrors `presence.confirmedEmpty`: the SET has been missing past the grace period. */
  emptyAccepted: boolean;
  lastResult: ReconcileResult | null;
  metrics: ReconcilerMetrics;
}

export type ReconcilerEvent =
  | LinkEvent
  | { type: 'FORCE' }
  /** Verified scanner events: `members[sym]` is SISMEMBER of the SET at observation `obs`. */
  | { type: 'HINTS'; obs: number; setExists: boolean; members: Record<string, boolean> }
  | { type: 'SET_MISSING' }
  | { type: 'SET_PRESENT' }
  | { type: 'RESYNC' }
  /** Raised when the rate factor changes: the bucket's refill timer restarts at the new rate. */
  | { type: 'RATE_CHANGED' };

export type ReconcilerEmitted =
  | { type: 'reconciled'; result: ReconcileResult }
  | { type: 'resubscribing'; tickers_count: number }
  | { type: 'set_missing'; exists: boolean }
  | { type: 'set_empty_accepted'; unsubscribing: number }
  | { type: 'read_failed'; error: string }
  | { type: 'batch_sent'; action: 'subscribe' | 'unsubscribe'; count: number; pending: number }
  | { type: 'synced'; tickers_count: number }
  | { type: 'pace_changed'; reason: 'slow_down' | 'recovered'; factor: number; burst: number; messages_per_second: number }
  | { type: 'hints_ignored'; reason: 'stale' | 'set_missing' | 'desired_unknown'; count: number };

const noRead = fromPromise<SetRead>(() => Promise.reject(new Error('readDesired actor not provided')));

/**
 * Channels the next message may carry: up to a batch, within the window of unacknowledged
 * channels. 0 while the free room is smaller than what a message would carry, so a nearly full
 * window waits for acks instead of spending a token on a message of a few channels.
 */
function windowRoom(settings: ReconcilerSettings, inFlight: number, pendingNow: SubscriptionBook['pending']): number {
  const { batchSize, maxInFlight } = settings;
  let pending = 0;
  for (const _ in pendingNow) if (++pending >= batchSize) break;
  const room = Math.min(batchSize, maxInFlight - inFlight);
  return room >= Math.min(batchSize, pending) ? room : 0;
}

function paceFigures(s: FlowSettings, flow: Flow) {
  return { factor: flow.factor, burst: burstOf(s, flow), messages_per_second: ratePerSecond(s, flow) };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function resultOf(ctx: ReconcilerContext, book: SubscriptionBook, connected: boolean, extra: Partial<ReconcileResult>): ReconcileResult {
  return {
    status: 'ok',
    at: null,
    cycle: ctx.cycle,
    connected,
    desired: countOf(book.desired),
    acknowledged: countOf(book.acked),
    in_flight: countOf(book.inFlight),
    pending: countOf(book.pending),
    drift: 0,
    missing: [],
    extra: [],
    corrections: 0,
    ...extra,
  };
}

export const reconcilerMachine = setup({
  types: {
    context: {} as ReconcilerContext,
    events: {} as ReconcilerEvent,
    input: {} as { settings?: ReconcilerSettingsInput } | undefined,
    emitted: {} as ReconcilerEmitted,
  },
  actors: { readDesired: noRead },
  delays: {
    reconcileDelay: ({ context }) => (context.retrySoon ? context.settings.retryMs : context.settings.intervalMs),
    refillDelay: ({ context }) => refillDelayMs(context.settings.flow, context.flow),
    recoverDelay: ({ context }) => context.settings.flow.recoverAfterMs,
    emptySetGrace: ({ context }) => context.settings.emptySetGraceMs,
  },
  guards: {
    // `online` mirrors the link region in context so actions and guards defined here can read it.
    canSend: ({ context }) =>
      context.online &&
      context.flow.tokens >= 1 &&
      hasPending(context.book) &&
      windowRoom(context.settings, countOf(context.book.inFlight), context.book.pending) > 0,
    bucketFull: ({ context }) => context.flow.tokens >= burstOf(context.settings.flow, context.flow),
    paceRecovered: ({ context }) => context.flow.factor >= 1,
    // Cheap checks first: while anything is in flight or pending (a resubscription of 10,000),
    // this runs after every event and must not walk the whole book.
    isInSync: ({ context }) =>
      context.book.desired !== null && !hasInFlight(context.book) && !hasPending(context.book) && gapOf(context.book) === 0,
  },
  actions: {
    clearBook: assign({ book: emptyBook, recentHints: {} }),
    addToken: assign({ flow: ({ context }) => addToken(context.settings.flow, context.flow) }),
    slowDown: enqueueActions(({ context, event, enqueue }) => {
      const flow = slowDown(context.settings.flow, context.flow, event.type === 'SLOW_DOWN' ? event.recentSends : undefined);
      enqueue.assign({ flow, metrics: { ...context.metrics, slow_downs: context.metrics.slow_downs + 1 } });
      enqueue.raise({ type: 'RATE_CHANGED' });
      enqueue.emit({ type: 'pace_changed', reason: 'slow_down', ...paceFigures(context.settings.flow, flow) });
    }),
    recover: enqueueActions(({ context, enqueue }) => {
      const flow = recover(context.settings.flow, context.flow);
      enqueue.assign({ flow });
      enqueue.raise({ type: 'RATE_CHANGED' });
      enqueue.emit({ type: 'pace_changed', reason: 'recovered', ...paceFigures(context.settings.flow, flow) });
    }),
    applyAcks: assign({
      book: ({ context, event }) => {
        if (event.type !== 'ACKED') return context.book;
        const book = applyAcks(context.book, event.subscribed, event.unsubscribed);
        return refreshPending(book, [...event.subscribed, ...event.unsubscribed]);
      },
    }),
    applyHints: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'HINTS') return;
      const symbols = Object.keys(event.members);
      const ignore = (reason: 'stale' | 'set_missing' | 'desired_unknown') => {
        enqueue.assign({ metrics: { ...context.metrics, hints_ignored: context.metrics.hints_ignored + symbols.length } });
        enqueue.emit({ type: 'hints_ignored', reason, count: symbols.length });
      };
      if (event.obs <= context.observed) return ignore('stale');
      if (!event.setExists) {
        // The SET vanished under the scanner's write: look again soon rather than at the next interval.
        enqueue.raise({ type: 'FORCE' });
        return ignore('set_missing');
      }
      if (context.book.desired === null) return ignore('desired_unknown');
      const desired: Record<string, true> = { ...context.book.desired };
      const recentHints = { ...context.recentHints };
      for (const s of symbols) {
        if (event.members[s]) desired[s] = true;
        else delete desired[s];
        recentHints[s] = { obs: event.obs, member: event.members[s] === true };
      }
      enqueue.assign({
        book: refreshPending({ ...context.book, desired }, symbols),
        recentHints,
        metrics: { ...context.metrics, hints_applied: context.metrics.hints_applied + symbols.length },
      });
    }),
    applyRead: enqueueActions(({ context, enqueue }, read: SetRead) => {
      const connected = context.online;
      // Counted whether doubted or believed (the assign below starts again from `context`).
      let setMissingReads = context.metrics.set_missing_reads;
      if (!read.exists || read.members.length === 0) {
        const confirmedEmpty = context.emptyAccepted;
        enqueue.raise({ type: 'SET_MISSING' });
        enqueue.emit({ type: 'set_missing', exists: read.exists });
        setMissingReads++;
        if (!confirmedEmpty) {
          const lastResult = resultOf(context, context.book, connected, { status: 'set_missing', at: read.at });
          enqueue.assign({ retrySoon: true, metrics: { ...context.metrics, set_missing_reads: setMissingReads }, lastResult });
          enqueue.emit({ type: 'reconciled', result: lastResult });
          return;
        }
        // Believed empty after the grace period: fall through and reconcile against nothing.
      } else {
        enqueue.raise({ type: 'SET_PRESENT' });
      }
      // A hint Redis executed after this read is newer than it: keep its verdict.
      const desired: Record<string, true> = { ...toSymbolSet(read.members) };
      const recentHints: ReconcilerContext['recentHints'] = {};
      for (const [s, h] of Object.entries(context.recentHints)) {
        if (h.obs <= read.obs) continue;
        recentHints[s] = h;
        if (h.member) desired[s] = true;
        else delete desired[s];
      }
      const resubscribe = context.book.desired === null;
      const cycle = context.cycle + 1;
      const { book, drift } = reconcileBook(context.book, desired as SymbolSet, cycle);
      const driftCount = resubscribe || !connected ? 0 : drift.missing.length + drift.extra.length;
      const metrics: ReconcilerMetrics = {
        ...context.metrics,
        set_missing_reads: setMissingReads,
        reconciliations_count: context.metrics.reconciliations_count + 1,
        total_drift_detected: context.metrics.total_drift_detected + driftCount,
        total_corrections: context.metrics.total_corrections + driftCount,
        last_reconciliation: read.at,
        resubscriptions: context.metrics.resubscriptions + (resubscribe && connected ? 1 : 0),
      };
      const lastResult = resultOf({ ...context, cycle }, book, connected, {
        status: resubscribe && connected ? 'resubscribe' : 'ok',
        at: read.at,
        drift: driftCount,
        missing: resubscribe ? [] : drift.missing,
        extra: resubscribe ? [] : drift.extra,
        corrections: driftCount,
      });
      enqueue.assign({ book, cycle, observed: read.obs, recentHints, retrySoon: false, metrics, lastResult });
      if (resubscribe && connected) enqueue.emit({ type: 'resubscribing', tickers_count: countOf(book.desired) });
      enqueue.emit({ type: 'reconciled', result: lastResult });
    }),
    readFailed: enqueueActions(({ context, enqueue }, params: { error: unknown }) => {
      const error = errorText(params.error);
      const lastResult = resultOf(context, context.book, context.online, { status: 'read_failed', error });
      enqueue.assign({
        retrySoon: true,
        lastResult,
        metrics: { ...context.metrics, read_failures: context.metrics.read_failures + 1 },
      });
      enqueue.emit({ type: 'read_failed', error });
      enqueue.emit({ type: 'reconciled', result: lastResult });
    }),
    acceptEmpty: enqueueActions(({ context, enqueue }) => {
      const { book } = reconcileBook(context.book, {}, context.cycle);
      enqueue.assign({ book });
      enqueue.emit({ type: 'set_empty_accepted', unsubscribing: countOf(book.acked) });
    }),
    flush: enqueueActions(({ context, enqueue, system }) => {
      const connection = peer(system, CONNECTION_ID);
      const { settings } = context;
      // As many messages as the bucket and the window allow, now: a lone change goes out at
      // once, and a whole resubscription within the burst goes out together.
      const { batches, book } = takeBatches(context.book, {
        batchSize: settings.batchSize,
        messages: Math.floor(context.flow.tokens),
        room: (inFlight, pending) => windowRoom(settings, inFlight, pending),
        lastAction: context.lastAction,
        cycle: context.cycle,
      });
      let channels = 0;
      for (const b of batches) channels += b.symbols.length;
      let pendingLeft = countOf(book.pending) + channels;
      for (const batch of batches) {
        pendingLeft -= batch.symbols.length;
        // Without a registered connection the batch is lost like any unacknowledged message, and
        // sent again two cycles later; the wiring test makes sure that never happens in production.
        if (connection) enqueue.sendTo(connection, { type: 'SEND', action: batch.action, symbols: batch.symbols } satisfies OutboxEvent);
        enqueue.emit({ type: 'batch_sent', action: batch.action, count: batch.symbols.length, pending: pendingLeft });
      }
      enqueue.assign({
        book,
        flow: spend(context.flow, batches.length),
        lastAction: batches.at(-1)?.action ?? context.lastAction,
        metrics: {
          ...context.metrics,
          batches_sent: context.metrics.batches_sent + batches.length,
          channels_sent: context.metrics.channels_sent + channels,
        },
      });
    }),
    notifySynced: enqueueActions(({ context, enqueue, system }) => {
      const connection = peer(system, CONNECTION_ID);
      if (connection) enqueue.sendTo(connection, { type: 'SYNCED' } satisfies OutboxEvent);
      enqueue.emit({ type: 'synced', tickers_count: countOf(context.book.acked) });
    }),
  },
}).createMachine({
  id: 'reconciler',
  type: 'parallel',
  context: ({ input }) => {
    const settings = reconcilerSettingsOf(input?.settings);
    return {
      settings,
      book: emptyBook,
      flow: initialFlow(settings.flow),
      lastAction: null,
      cycle: 0,
      observed: 0,
      recentHints: {},
      retrySoon: false,
      online: false,
      emptyAccepted: false,
      lastResult: null,
      metrics: emptyReconcilerMetrics,
    };
  },
  on: {
    HINTS: { actions: 'applyHints' },
  },
  states: {
    link: {
      initial: 'offline',
      states: {
        offline: {
          entry: assign({ online: false }),
          on: { CONNECTED: { target: 'online', actions: ['clearBook', raise({ type: 'RESYNC' })] } },
        },
        online: {
          entry: assign({ online: true }),
          initial: 'resyncing',
          on: {
            DISCONNECTED: { target: 'offline', actions: 'clearBook' },
            // Only while online: an ack cannot outlive the connection that gave it.
            ACKED: { actions: 'applyAcks' },
            // A second CONNECTED without DISCONNECTED (a lost event) is still a new connection.
            CONNECTED: { target: 'online', reenter: true, actions: ['clearBook', raise({ type: 'RESYNC' })] },
          },
          states: {
            resyncing: {
              always: { guard: 'isInSync', target: 'inSync', actions: 'notifySynced' },
            },
            inSync: {},
          },
        },
      },
    },
    loop: {
      // RESYNC is raised by the link region on CONNECTED: whatever the loop was doing, a new
      // connection is answered by a fresh read of the SET. (Handled in each child, not on `loop`:
      // a re-entering transition on `loop` would conflict with the link region's own.)
      initial: 'reading',
      states: {
        waiting: {
          on: { FORCE: 'reading', RESYNC: 'reading' },
          after: { reconcileDelay: 'reading' },
        },
        reading: {
          on: { RESYNC: { target: 'reading', reenter: true } },
          invoke: {
            id: 'readDesired',
            src: 'readDesired',
            onDone: { target: 'waiting', actions: { type: 'applyRead', params: ({ event }) => event.output } },
            onError: { target: 'waiting', actions: { type: 'readFailed', params: ({ event }) => ({ error: event.error }) } },
          },
        },
      },
    },
    outbox: {
      // Eventless transitions are re-checked after every event, so anything that creates pending
      // work (a read, a hint, an ack that frees the window, CONNECTED, a new token) sends at once.
      initial: 'sending',
      states: {
        sending: {
          always: { guard: 'canSend', actions: 'flush' },
        },
      },
    },
    bucket: {
      initial: 'full',
      states: {
        full: {
          always: { guard: not('bucketFull'), target: 'refilling' },
        },
        refilling: {
          always: { guard: 'bucketFull', target: 'full' },
          after: { refillDelay: { target: 'refilling', reenter: true, actions: 'addToken' } },
          // A change of pace applies at once, not after the old rate's next token.
          on: { RATE_CHANGED: { target: 'refilling', reenter: true } },
        },
      },
    },
    pace: {
      // SLOW_DOWN is handled in each child: a re-entering transition on `pace` itself would
      // re-enter the whole parallel machine.
      initial: 'steady',
      states: {
        steady: {
          on: { SLOW_DOWN: { target: 'recovering', actions: 'slowDown' } },
        },
        recovering: {
          on: { SLOW_DOWN: { target: 'recovering', reenter: true, actions: 'slowDown' } },
          always: { guard: 'paceRecovered', target: 'steady' },
          after: { recoverDelay: { target: 'recovering', reenter: true, actions: 'recover' } },
        },
      },
    },
    presence: {
      initial: 'present',
      states: {
        present: { entry: assign({ emptyAccepted: false }), on: { SET_MISSING: 'missing' } },
        missing: {
          on: { SET_PRESENT: 'present' },
          after: { emptySetGrace: { target: 'confirmedEmpty', actions: 'acceptEmpty' } },
        },
        confirmedEmpty: { entry: assign({ emptyAccepted: true }), on: { SET_PRESENT: 'present' } },
      },
    },
  },
});

export type ReconcilerMachine = typeof reconcilerMachine;
export type ReconcilerActor = ActorRefFrom<ReconcilerMachine>;
