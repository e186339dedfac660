import { assign, emit, fromPromise, setup } from 'xstate';
import { backoffCeiling, type BackoffSettings } from './backoff.js';
import { DEFAULT_RULES, type CategoryRules } from '../scanner/categories.js';
import {
  DEFAULT_SNAPSHOT_EVERY,
  memoryFromPersisted,
  planScan,
  type CyclePlan,
  type CycleStats,
  type PersistedScannerState,
  type ScannerMemory,
} from '../scanner/cycle-plan.js';
import type { MarketSession } from '../scanner/market-session.js';
import type { MarketSnapshot } from '../scanner/market-snapshot.js';

// The scanner's cycle as a statechart. Pure: the I/O (reading what a previous run left, fetching
// the market, writing a scan) are actors provided by src/roles/scanner.ts; ranking and planning
// are pure and run here.
//
//   loading ─▶ fetching ─▶ computing ─▶ publishing ─▶ waiting ─(scanInterval)─▶ fetching …
//      │           │            │             │
//      └───────────┴────────────┴─────────────┴──▶ backingOff ─(retryBackoff)─▶ loading | fetching
//
// A scan is adopted (memory = plan.next) only after its transaction succeeded, so nothing partial
// is ever published or remembered. After a failed publish the scanner cannot know whether the
// transaction ran (the reply may be what was lost), so it reloads its sequences and the SET from
// Redis and starts every list afresh with a snapshot: sequences never repeat and readers resync.

export type ScannerStage = 'load' | 'fetch' | 'compute' | 'publish';

export interface FetchOutput {
  snapshot: MarketSnapshot;
  /** Wall clock when the fetch began: the scan's start. */
  startedAtMs: number;
}

export interface ComputeInput {
  snapshot: MarketSnapshot | null;
  memory: ScannerMemory | null;
  rules: CategoryRules;
  snapshotEvery: number;
}

export interface PublishInput {
  plan: CyclePlan;
  /** The number this scan will have once published (1 for the first). */
  cycle: number;
  startedAtMs: number;
}

export interface PublishOutput {
  /** Wall clock when the transaction returned. */
  finishedAtMs: number;
}

export interface ScannerMachineInput {
  intervalMs: number;
  rules?: CategoryRules;
  snapshotEvery?: number;
  backoff?: BackoffSettings;
}

export interface ScannerContext {
  intervalMs: number;
  rules: CategoryRules;
  snapshotEvery: number;
  backoff: BackoffSettings;
  /** What readers last saw; null until loaded from Redis. */
  memory: ScannerMemory | null;
  /** The scan being published. */
  plan: CyclePlan | null;
  startedAtMs: number;
  lastCycleMs: number;
  /** Scans published since start. */
  cycle: number;
  /** Consecutive failures. */
  attempt: number;
  /** The memory must be re-read from Redis before the next scan. */
  needsReload: boolean;
  /**
   * The sequences of the last scan this process tried to publish: a reload never goes below them,
   * even when Redis lost its data (restarted without persistence) meanwhile.
   */
  sequenceFloor: PersistedScannerState['sequences'];
  lastError: { stage: ScannerStage; message: string } | null;
}

export type ScannerEvent = { type: 'SCAN_NOW' };

export type ScannerEmitted =
  | { type: 'state.loaded'; sequences: PersistedScannerState['sequences']; active: number }
  | {
      type: 'cycle.completed';
      cycle: number;
      durationMs: number;
      session: MarketSession;
      source: CyclePlan['source'];
      stats: CycleStats;
    }
  | { type: 'cycle.failed'; stage: ScannerStage; message: string; attempt: number; retryInMs: number };

export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 1_000, maxMs: 30_000 };

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : 'unknown error';
}

/** The fetch's output travels on the done event into `computing`, never into context (it is large). */
function fetchOutputOf(event: unknown): FetchOutput | null {
  if (typeof event !== 'object' || event === null || !('output' in event)) return null;
  const out = (event as { output: unknown }).output;
  if (typeof out !== 'object' || out === null || !('snapshot' in out) || !('startedAtMs' in out)) return null;
  return out as FetchOutput;
}

/** Placeholders for the I/O actors, which the role provides with `machine.provide({ actors })`. */
function notProvided<TOutput, TInput = void>(name: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`scanner actor "${name}" was not provided`);
  });
}

export const scannerMachine = setup({
  types: {
    context: {} as ScannerContext,
    events: {} as ScannerEvent,
    input: {} as ScannerMachineInput,
    emitted: {} as ScannerEmitted,
  },
  actors: {
    loadState: notProvided<PersistedScannerState>('loadState'),
    fetchMarket: notProvided<FetchOutput>('fetchMarket'),
    computePlan: fromPromise<CyclePlan, ComputeInput>(async ({ input }) => {
      if (!input.snapshot) throw new Error('no market snapshot to rank');
      if (!input.memory) throw new Error('scanner state not loaded');
      return planScan(input.memory, input.snapshot, input.rules, { snapshotEvery: input.snapshotEvery });
    }),
    publishCycle: notProvided<PublishOutput, PublishInput>('publishCycle'),
  },
  delays: {
    scanInterval: ({ context }) => Math.max(0, context.intervalMs - context.lastCycleMs),
    retryBackoff: ({ context }) => backoffCeiling(context.attempt, context.backoff),
  },
  guards: {
    needsReload: ({ context }) => context.needsReload,
  },
  actions: {
    recordFailure: assign(({ context }, params: { stage: ScannerStage; error: unknown }) => ({
      attempt: context.attempt + 1,
      plan: null,
      lastError: { stage: params.stage, message: errorMessage(params.error) },
      needsReload: context.needsReload || params.stage === 'publish' || params.stage === 'load',
    })),
    reportFailure: emit(({ context }) => ({
      type: 'cycle.failed' as const,
      stage: context.lastError?.stage ?? 'fetch',
      message: context.lastError?.message ?? 'unknown error',
      attempt: context.attempt,
      retryInMs: backoffCeiling(context.attempt, context.backoff),
    })),
  },
}).createMachine({
  id: 'scanner',
  initial: 'loading',
  context: ({ input }) => ({
    intervalMs: input.intervalMs,
    rules: input.rules ?? DEFAULT_RULES,
    snapshotEvery: input.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
    backoff: input.backoff ?? DEFAULT_BACKOFF,
    memory: null,
    plan: null,
    startedAtMs: 0,
    lastCycleMs: 0,
    cycle: 0,
    attempt: 0,
    needsReload: true,
    sequenceFloor: {},
    lastError: null,
  }),
  states: {
    loading: {
      invoke: {
        src: 'loadState',
        onDone: {
          target: 'fetching',
          actions: [
            assign({
              memory: ({ context, event }) => memoryFromPersisted(withFloor(event.output, context.sequenceFloor)),
              needsReload: false,
            }),
            emit(({ event }) => ({
              type: 'state.loaded' as const,
              sequences: event.output.sequences,
              active: event.output.active.length,
            })),
          ],
        },
        onError: {
          target: 'backingOff',
          actions: [{ type: 'recordFailure', params: ({ event }) => ({ stage: 'load' as const, error: event.error }) }, 'reportFailure'],
        },
      },
    },
    fetching: {
      invoke: {
        src: 'fetchMarket',
        onDone: { target: 'computing', actions: assign({ startedAtMs: ({ event }) => event.output.startedAtMs }) },
        onError: {
          target: 'backingOff',
          actions: [{ type: 'recordFailure', params: ({ event }) => ({ stage: 'fetch' as const, error: event.error }) }, 'reportFailure'],
        },
      },
    },
    computing: {
      invoke: {
        src: 'computePlan',
        input: ({ context, event }) => ({
          snapshot: fetchOutputOf(event)?.snapshot ?? null,
          memory: context.memory,
          rules: context.rules,
          snapshotEvery: context.snapshotEvery,
        }),
        onDone: { target: 'publishing', actions: assign({ plan: ({ event }) => event.output }) },
        onError: {
          target: 'backingOff',
          actions: [{ type: 'recordFailure', params: ({ event }) => ({ stage: 'compute' as const, error: event.error }) }, 'reportFailure'],
        },
      },
    },
    publishing: {
      entry: assign({ sequenceFloor: ({ context }) => context.plan?.sequences ?? context.sequenceFloor }),
      invoke: {
        src: 'publishCycle',
        input: ({ context }) => {
          // `computing` only reaches here with a plan.
          const plan = context.plan as CyclePlan;
          return { plan, cycle: context.cycle + 1, startedAtMs: context.startedAtMs };
        },
        onDone: {
          target: 'waiting',
          actions: [
            assign(({ context, event }) => ({
              memory: context.plan ? context.plan.next : context.memory,
              cycle: context.cycle + 1,
              attempt: 0,
              lastError: null,
              lastCycleMs: Math.max(0, event.output.finishedAtMs - context.startedAtMs),
            })),
            emit(({ context }) => ({
              type: 'cycle.completed' as const,
              cycle: context.cycle,
              durationMs: context.lastCycleMs,
              session: context.plan?.session ?? 'CLOSED',
              source: context.plan?.source ?? 'simulated',
              stats: context.plan?.stats ?? emptyStats(),
            })),
            assign({ plan: null }),
          ],
        },
        onError: {
          target: 'backingOff',
          actions: [{ type: 'recordFailure', params: ({ event }) => ({ stage: 'publish' as const, error: event.error }) }, 'reportFailure'],
        },
      },
    },
    waiting: {
      after: { scanInterval: 'fetching' },
      on: { SCAN_NOW: 'fetching' },
    },
    backingOff: {
      after: { retryBackoff: [{ guard: 'needsReload', target: 'loading' }, { target: 'fetching' }] },
      on: { SCAN_NOW: [{ guard: 'needsReload', target: 'loading' }, { target: 'fetching' }] },
    },
  },
});

function withFloor(p: PersistedScannerState, floor: PersistedScannerState['sequences']): PersistedScannerState {
  const sequences = { ...p.sequences };
  for (const [list, n] of Object.entries(floor) as [keyof typeof floor, number][]) {
    if (n > (sequences[list] ?? 0)) sequences[list] = n;
  }
  return { ...p, sequences };
}

function emptyStats(): CycleStats {
  return {
    tickers: 0, rejected: 0, active: 0, snapshots: 0, deltas: 0, changes: 0, subscribes: 0, unsubscribes: 0,
    rows: {} as CycleStats['rows'],
  };
}

export type ScannerMachine = typeof scannerMachine;
