import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import { backoffCeiling } from '../../src/machines/backoff.js';
import {
  scannerMachine,
  type FetchOutput,
  type PublishInput,
  type PublishOutput,
  type ScannerEmitted,
} from '../../src/machines/scanner.machine.js';
import type { PersistedScannerState } from '../../src/scanner/cycle-plan.js';
import { SimulatedMarket } from '../../src/scanner/simulated-market.js';
import { CATEGORIES } from '../../src/shared/redis-keys.js';

const INTERVAL = 10_000;
type StateName = 'loading' | 'fetching' | 'computing' | 'publishing' | 'waiting' | 'backingOff';

/** Test doubles for the three I/O actors, each scripted to fail on demand. */
function harness(opts: { persisted?: PersistedScannerState } = {}) {
  const market = new SimulatedMarket({ seed: 11, symbols: 400 });
  const published: PublishInput[] = [];
  let loads = 0;
  const fail = { load: 0, fetch: 0, publish: 0, wipe: false };
  let now = 1_000;
  let redis: PersistedScannerState = opts.persisted ?? { sequences: {}, active: [] };

  const machine = scannerMachine.provide({
    actors: {
      loadState: fromPromise<PersistedScannerState, void>(async () => {
        loads++;
        if (fail.load > 0 && fail.load--) throw new Error('redis down');
        return redis;
      }),
      fetchMarket: fromPromise<FetchOutput, void>(async () => {
        if (fail.fetch > 0 && fail.fetch--) throw new Error('market source did not answer within 8000 ms');
        const startedAtMs = now;
        return { snapshot: market.next(now), startedAtMs };
      }),
      publishCycle: fromPromise<PublishOutput, PublishInput>(async ({ input }) => {
        now += 300; // the scan took 300 ms
        if (fail.publish > 0 && fail.publish--) {
          // The worst case: the transaction ran but its reply was lost…
          redis = { sequences: input.plan.sequences, active: input.plan.active };
          // …or Redis restarted without persistence and lost everything.
          if (fail.wipe) redis = { sequences: {}, active: [] };
          throw new Error('connection lost during EXEC');
        }
        published.push(input);
        redis = { sequences: input.plan.sequences, active: input.plan.active };
        return { finishedAtMs: now };
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { clock, input: { intervalMs: INTERVAL, backoff: { baseMs: 1_000, maxMs: 8_000 } } });
  const emitted: ScannerEmitted[] = [];
  actor.on('*', (e) => emitted.push(e));
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  return {
    actor, clock, published, emitted, errors, fail,
    loads: () => loads,
    inState: (s: StateName) => waitFor(actor, (snap) => snap.matches(s), { timeout: 5_000 }),
  };
}

describe('scanner machine', () => {
  it('loads, fetches, ranks, publishes, then waits the rest of the interval', async () => {
    const h = harness();
    h.actor.start();
    await h.inState('waiting');
    expect(h.published).toHaveLength(1);
    const first = h.published[0]!;
    expect(first.cycle).toBe(1);
    expect(first.plan.messages.map((m) => [m.list, m.type, m.sequence])).toEqual(CATEGORIES.map((c) => [c, 'snapshot', 1]));
    expect(h.emitted.find((e) => e.type === 'cycle.completed')).toMatchObject({ cycle: 1, durationMs: 300 });

    // The next scan starts one interval after the previous one started: 10 000 - 300 ms later.
    h.clock.increment(INTERVAL - 301);
    expect(h.actor.getSnapshot().value).toBe('waiting');
    h.clock.increment(1);
    await waitFor(h.actor, () => h.published.length === 2, { timeout: 5_000 });
    const second = h.published[1]!;
    expect(second.plan.messages.every((m) => m.sequence === 2)).toBe(true);
    expect(second.plan.messages.some((m) => m.type === 'delta')).toBe(true);
    expect(h.loads()).toBe(1);
    expect(h.errors).toEqual([]);
    h.actor.stop();
  });

  it('retries a failing market source with growing backoff, and reports each failure', async () => {
    const h = harness();
    h.fail.fetch = 3;
    h.actor.start();
    await h.inState('backingOff');
    const failures = () => h.emitted.filter((e) => e.type === 'cycle.failed');
    expect(failures()).toEqual([
      { type: 'cycle.failed', stage: 'fetch', message: 'market source did not answer within 8000 ms', attempt: 1, retryInMs: 1_000 },
    ]);
    for (const delay of [1_000, 2_000]) {
      h.clock.increment(delay - 1);
      expect(h.actor.getSnapshot().value).toBe('backingOff');
      h.clock.increment(1);
      await waitFor(h.actor, () => failures().length === (delay === 1_000 ? 2 : 3), { timeout: 5_000 });
    }
    expect(failures().map((f) => f.retryInMs)).toEqual([1_000, 2_000, 4_000]);
    expect(h.published).toHaveLength(0);
    h.clock.increment(4_000);
    await h.inState('waiting');
    expect(h.published).toHaveLength(1);
    expect(h.actor.getSnapshot().context.attempt).toBe(0);
    expect(h.loads()).toBe(1); // a source failure does not need Redis re-read
    h.actor.stop();
  });

  it('after a failed publish, reloads from Redis and starts every list afresh: no sequence repeats', async () => {
    const h = harness();
    h.actor.start();
    await h.inState('waiting');
    const before = h.actor.getSnapshot().context.memory;
    h.fail.publish = 1;
    h.actor.send({ type: 'SCAN_NOW' });
    await h.inState('backingOff');
    expect(h.emitted.at(-1)).toMatchObject({ type: 'cycle.failed', stage: 'publish', attempt: 1 });
    // Nothing of the failed scan is adopted.
    expect(h.actor.getSnapshot().context.memory).toBe(before);
    expect(h.actor.getSnapshot().context.plan).toBeNull();

    h.clock.increment(1_000);
    await waitFor(h.actor, () => h.published.length === 2, { timeout: 5_000 });
    expect(h.loads()).toBe(2);
    // The lost-reply transaction had used sequence 2: the next scan is 3, and a snapshot.
    expect(h.published[1]!.plan.messages.every((m) => m.type === 'snapshot' && m.sequence === 3)).toBe(true);
    // Subscribe events are diffed against the SET the lost transaction wrote: none repeated.
    expect(h.published[1]!.plan.events.length).toBeLessThan(h.published[0]!.plan.events.length);
    h.actor.stop();
  });

  it('sequences never go back, even when Redis lost its data meanwhile', async () => {
    const h = harness();
    h.actor.start();
    await h.inState('waiting');
    h.actor.send({ type: 'SCAN_NOW' });
    await waitFor(h.actor, () => h.published.length === 2, { timeout: 5_000 });
    await h.inState('waiting');
    h.fail.publish = 1;
    h.fail.wipe = true;
    h.actor.send({ type: 'SCAN_NOW' });
    await h.inState('backingOff');
    h.clock.increment(1_000);
    await waitFor(h.actor, () => h.published.length === 3, { timeout: 5_000 });
    // Sequence 3 may have reached readers before the loss: the next is 4.
    expect(h.published[2]!.plan.messages.every((m) => m.type === 'snapshot' && m.sequence === 4)).toBe(true);
    // The SET is gone from Redis: every symbol is announced again.
    expect(h.published[2]!.plan.events.filter((e) => e.action === 'subscribe')).toHaveLength(h.published[2]!.plan.active.length);
    h.actor.stop();
  });

  it('retries loading while Redis is unreachable at start', async () => {
    const h = harness({ persisted: { sequences: { winners: 99 }, active: [] } });
    h.fail.load = 2;
    h.actor.start();
    await h.inState('backingOff');
    h.clock.increment(1_000);
    await waitFor(h.actor, () => h.loads() === 2, { timeout: 5_000 });
    await h.inState('backingOff');
    h.clock.increment(2_000);
    await h.inState('waiting');
    expect(h.loads()).toBe(3);
    expect(h.emitted.filter((e) => e.type === 'cycle.failed').map((e) => e.type === 'cycle.failed' && e.stage)).toEqual(['load', 'load']);
    expect(h.published[0]!.plan.sequences.winners).toBe(100);
    h.actor.stop();
  });

  it('a ranking failure publishes nothing and is retried', async () => {
    let calls = 0;
    const broken = scannerMachine.provide({
      actors: {
        loadState: fromPromise<PersistedScannerState, void>(async () => ({ sequences: {}, active: [] })),
        fetchMarket: fromPromise<FetchOutput, void>(async () => ({
          // A snapshot whose ticker list is not a list: ranking throws.
          snapshot: { source: 'polygon', takenAtMs: 0, session: 'MARKET_OPEN', minuteOfDay: 600, tickers: null as never, rejected: 0 },
          startedAtMs: 0,
        })),
        publishCycle: fromPromise<PublishOutput, PublishInput>(async () => {
          calls++;
          return { finishedAtMs: 0 };
        }),
      },
    });
    const clock = new SimulatedClock();
    const actor = createActor(broken, { clock, input: { intervalMs: INTERVAL } });
    const failed: ScannerEmitted[] = [];
    actor.on('cycle.failed', (e) => failed.push(e));
    actor.start();
    await waitFor(actor, (s) => s.matches('backingOff'), { timeout: 5_000 });
    expect(failed[0]).toMatchObject({ stage: 'compute', attempt: 1 });
    expect(calls).toBe(0);
    clock.increment(1_000);
    await waitFor(actor, () => failed.length === 2, { timeout: 5_000 });
    expect(calls).toBe(0);
    actor.stop();
  });

  it('SCAN_NOW skips the wait', async () => {
    const h = harness();
    h.actor.start();
    await h.inState('waiting');
    expect(h.clock.now()).toBe(0);
    h.actor.send({ type: 'SCAN_NOW' });
    await waitFor(h.actor, () => h.published.length === 2, { timeout: 5_000 });
    // The second scan came without the simulated clock moving at all: the wait was skipped.
    expect(h.clock.now()).toBe(0);
    expect(h.published[1]!.cycle).toBe(2);
    expect(h.emitted.filter((e) => e.type === 'cycle.completed')).toHaveLength(2);
    h.actor.stop();
  });

  it('backoff doubles up to its cap', () => {
    const b = { baseMs: 1_000, maxMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffCeiling(n, b))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});
