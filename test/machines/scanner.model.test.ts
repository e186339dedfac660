import { describe, it } from 'vitest';
import { fromPromise, type AnyEventObject, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { scannerMachine, type ComputeInput, type PublishInput, type ScannerContext } from '../../src/machines/scanner.machine.js';
import { DEFAULT_RULES } from '../../src/scanner/categories.js';
import { DEFAULT_SNAPSHOT_EVERY, memoryFromPersisted, planScan, type CyclePlan } from '../../src/scanner/cycle-plan.js';
import { SimulatedMarket } from '../../src/scanner/simulated-market.js';
import { cheapExpect as expect, expectFullCoverage, walkModel, type StepRecord } from '../helpers/model-walk.js';

// Every state and transition of the scanner's cycle, walked on the simulated clock. The I/O
// actors never settle on their own: the walk delivers their results and failures as events, and
// records what each actor was started with. Paths differ by the failure count and by whether a
// reload is owed, so the escalating retry and "reload after a failed publish" are explored.

const started: { compute: ComputeInput[]; publish: PublishInput[]; loads: number; fetches: number } = { compute: [], publish: [], loads: 0, fetches: 0 };
const never = <T,>() => new Promise<T>(() => undefined);
const machine = scannerMachine.provide({
  actors: {
    loadState: fromPromise(() => {
      started.loads++;
      return never();
    }),
    fetchMarket: fromPromise(() => {
      started.fetches++;
      return never();
    }),
    computePlan: fromPromise<CyclePlan, ComputeInput>(({ input }) => {
      started.compute.push(input);
      return never();
    }),
    publishCycle: fromPromise<{ finishedAtMs: number }, PublishInput>(({ input }) => {
      started.publish.push(input);
      return never();
    }),
  },
});

/** The id XState gives each state's one invocation, read off the definition. */
const invokeId = (state: string) => (machine as AnyStateMachine).getStateNodeById(`scanner.${state}`).invoke[0]!.id;
const done = (state: string, output: unknown): AnyEventObject => ({ type: `xstate.done.actor.${invokeId(state)}`, output });
const failed = (state: string, message: string): AnyEventObject => ({ type: `xstate.error.actor.${invokeId(state)}`, error: new Error(message) });

const persisted = { sequences: { gappers_up: 7 }, active: ['AAPL', 'MSFT'] };
const snapshot = new SimulatedMarket({ seed: 3, symbols: 60 }).next(1_000);
const plan = planScan(memoryFromPersisted(persisted), snapshot, DEFAULT_RULES, { snapshotEvery: DEFAULT_SNAPSHOT_EVERY });
const STARTED_AT = 1_000;
const FINISHED_AT = 1_400;

const events: AnyEventObject[] = [
  { type: 'SCAN_NOW' },
  done('loading', persisted),
  failed('loading', 'redis down'),
  done('fetching', { snapshot, startedAtMs: STARTED_AT }),
  failed('fetching', 'market source did not answer'),
  done('computing', plan),
  failed('computing', 'no market snapshot to rank'),
  done('publishing', { finishedAtMs: FINISHED_AT }),
  failed('publishing', 'connection lost during EXEC'),
];

const ctx = (s: AnyMachineSnapshot) => s.context as ScannerContext;
const STAGES: Record<string, string> = { loading: 'load', fetching: 'fetch', computing: 'compute', publishing: 'publish' };

function walk(input: { intervalMs: number; backoff?: { baseMs: number; maxMs: number } }, expected: { intervalMs: number; baseMs: number; maxMs: number }, maxDepth: number) {
  const ceiling = (attempt: number) => Math.min(expected.maxMs, expected.baseMs * 2 ** (attempt - 1));
  const step = (r: StepRecord, path: string) => {
    const { before, after, event } = r;
    const b = ctx(before);
    const a = ctx(after);
    const from = String(before.value);
    const emitted = (type: string) => r.emitted.filter((e) => e.type === type);
    const failure = event.type.startsWith('xstate.error.actor.');
    // Failures: counted, reported with the wait that follows, and a reload owed after a failed load or publish.
    if (failure) {
      const stage = STAGES[from]!;
      expect(after.value, path).toBe('backingOff');
      expect(a.attempt, path).toBe(b.attempt + 1);
      expect(a.plan, path).toBeNull();
      expect(a.needsReload, path).toBe(b.needsReload || stage === 'publish' || stage === 'load');
      expect(emitted('cycle.failed'), path).toEqual([
        { type: 'cycle.failed', stage, message: (event.error as Error).message, attempt: b.attempt + 1, retryInMs: ceiling(b.attempt + 1) },
      ]);
    } else expect(emitted('cycle.failed'), path).toEqual([]);
    // Leaving the retry wait (by the timer or SCAN_NOW): reload first when one is owed.
    if (from === 'backingOff') expect(after.value, path).toBe(b.needsReload ? 'loading' : 'fetching');
    if (from === 'waiting') expect(after.value, path).toBe('fetching');
    // The load: memory from what Redis held, never below the sequences this process published.
    const loaded = from === 'loading' && !failure;
    expect(emitted('state.loaded'), path).toEqual(loaded ? [{ type: 'state.loaded', sequences: persisted.sequences, active: 2 }] : []);
    if (loaded) {
      expect(a.needsReload, path).toBe(false);
      expect(a.memory?.active, path).toEqual(['AAPL', 'MSFT']);
      const floor = b.sequenceFloor.gappers_up ?? 0;
      expect(a.memory?.lists.gappers_up.sequence, path).toBe(Math.max(7, floor));
    }
    // Each stage's actor is started with what the previous stage produced.
    const entered = (s: string) => !before.matches(s) && after.matches(s);
    if (entered('computing')) {
      expect(started.compute.length, path).toBe(1);
      expect(started.compute[0]!.snapshot === snapshot, `${path}: the fetched snapshot is ranked`).toBe(true);
      expect(started.compute[0]!.memory === a.memory, `${path}: against the current memory`).toBe(true);
      expect(a.startedAtMs, path).toBe(STARTED_AT);
    } else expect(started.compute.length, path).toBe(0);
    if (entered('publishing')) {
      expect(a.plan === plan, path).toBe(true);
      expect(started.publish.length, path).toBe(1);
      expect(started.publish[0]!.plan === plan, path).toBe(true);
      expect(started.publish[0]!.cycle, path).toBe(b.cycle + 1);
      expect(started.publish[0]!.startedAtMs, path).toBe(a.startedAtMs);
      // Before the transaction runs: a reload never goes below what it may have written.
      expect(a.sequenceFloor, path).toEqual(plan.sequences);
    } else expect(started.publish.length, path).toBe(0);
    expect(started.loads, `${path}: a load started`).toBe(entered('loading') ? 1 : 0);
    expect(started.fetches, `${path}: a fetch started`).toBe(entered('fetching') ? 1 : 0);
    // A published scan is adopted: memory, cycle, a clean slate, its duration.
    const published = from === 'publishing' && !failure;
    expect(emitted('cycle.completed'), path).toEqual(
      published ? [{ type: 'cycle.completed', cycle: b.cycle + 1, durationMs: FINISHED_AT - b.startedAtMs, session: plan.session, source: plan.source, stats: plan.stats }] : [],
    );
    if (published) {
      expect(after.value, path).toBe('waiting');
      expect(a.memory === plan.next, path).toBe(true);
      expect([a.cycle, a.attempt, a.lastError, a.plan, a.lastCycleMs], path).toEqual([b.cycle + 1, 0, null, null, FINISHED_AT - b.startedAtMs]);
    } else if (!failure) expect([a.cycle, a.memory === b.memory || loaded], path).toEqual([b.cycle, true]);
  };
  return walkModel({
    machine,
    input,
    events,
    systemId: 'scanner',
    maxDepth,
    key: (s) => {
      const c = ctx(s);
      return [Math.min(c.attempt, 3), c.needsReload, c.memory !== null, c.cycle > 0, Object.keys(c.sequenceFloor).length > 0];
    },
    beforeStep: () => {
      started.compute = [];
      started.publish = [];
      started.loads = 0;
      started.fetches = 0;
    },
    delays: {
      scanInterval: (s) => Math.max(0, expected.intervalMs - ctx(s).lastCycleMs),
      retryBackoff: (s) => ceiling(ctx(s).attempt),
    },
    step,
    check: (s, path) => {
      const c = ctx(s);
      // Something to rank only once loaded; a plan only while publishing.
      if (!s.matches('loading') && !s.matches('backingOff')) expect(c.memory === null, path).toBe(false);
      expect(c.plan !== null, path).toBe(s.matches('publishing'));
      if (s.matches('backingOff')) expect(c.attempt, path).toBeGreaterThan(0);
      // SCAN_NOW cuts any wait short, and only a wait.
      expect(s.can({ type: 'SCAN_NOW' }), `${path}: SCAN_NOW`).toBe(s.matches('waiting') || s.matches('backingOff'));
    },
  });
}

describe('scanner statechart, model-based', () => {
  it('walks every state and transition on the simulated clock; each stage feeds the next, failures retry with escalating waits', () => {
    const report = walk({ intervalMs: 10_000, backoff: { baseMs: 1_000, maxMs: 4_000 } }, { intervalMs: 10_000, baseMs: 1_000, maxMs: 4_000 }, 7);
    expectFullCoverage(report);
    expect(report.delaysChecked.get('scanInterval'), 'scanInterval').toBeGreaterThan(0);
    expect(report.delaysChecked.get('retryBackoff'), 'retryBackoff').toBeGreaterThan(3);
  });

  it('the default retry backoff: 1 s doubling up to 30 s', () => {
    const report = walk({ intervalMs: 10_000 }, { intervalMs: 10_000, baseMs: 1_000, maxMs: 30_000 }, 4);
    expect(report.delaysChecked.get('retryBackoff'), 'retryBackoff').toBeGreaterThan(0);
  });
});
