import { describe, it } from 'vitest';
import { fromPromise, type AnyEventObject, type AnyMachineSnapshot } from 'xstate';
import { CONNECTION_ID } from '../../src/machines/protocol.js';
import { reconcilerMachine, type ReconcilerContext, type SetRead } from '../../src/machines/reconciler.machine.js';
import { applyAcks } from '../../src/subscriptions/subscription-batcher.js';
import { burstOf, ratePerSecond } from '../../src/subscriptions/flow-control.js';
import { countOf, gapOf, neededAction, reconcileBook, refreshPending, toSymbolSet, type SubscriptionBook } from '../../src/subscriptions/subscription-book.js';
import { cheapExpect as expect, expectFullCoverage, walkModel, type StepRecord } from '../helpers/model-walk.js';

// Every state and transition of the reconciler statechart (six parallel regions), walked on the
// simulated clock with SET reads that never settle on their own (the walk delivers their results
// as events) and a recording connection. Paths differ by context too: stale and fresh hints
// around a full read, a second CONNECTED with no DISCONNECTED, a SET missing past its grace.

const machine = reconcilerMachine.provide({ actors: { readDesired: fromPromise<SetRead>(() => new Promise<SetRead>(() => undefined)) } });

const read = (obs: number, members: string[]): AnyEventObject => ({
  type: 'xstate.done.actor.readDesired',
  output: { obs, exists: members.length > 0, members, at: `2026-01-01T00:00:${String(obs).padStart(2, '0')}.000Z` } satisfies SetRead,
});

const events: AnyEventObject[] = [
  { type: 'CONNECTED' },
  { type: 'DISCONNECTED' },
  { type: 'SLOW_DOWN', recentSends: 4 },
  { type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] },
  { type: 'ACKED', subscribed: [], unsubscribed: ['AAPL'] },
  { type: 'FORCE' },
  // Observed at 5: fresh before the read at 10, stale after it; at 100: fresh after it.
  { type: 'HINTS', obs: 5, setExists: true, members: { NIO: true } },
  { type: 'HINTS', obs: 100, setExists: true, members: { AAPL: false } },
  { type: 'HINTS', obs: 101, setExists: false, members: { NIO: false } },
  // Observed with the read at 10 itself: no newer than it, so stale after it.
  { type: 'HINTS', obs: 10, setExists: true, members: { MSFT: true } },
  read(1, ['AAPL']),
  read(10, ['AAPL']),
  read(10, []),
  // AAPL gone and NIO new at once: one missing, one extra.
  read(12, ['NIO']),
  // The SET exists but is empty (between the scanner's DEL and SADD, were it not atomic).
  { ...read(11, []), output: { obs: 11, exists: true, members: [], at: '2026-01-01T00:00:11.000Z' } },
  { type: 'xstate.error.actor.readDesired', error: new Error('redis down') },
  { type: 'SET_MISSING' },
  { type: 'SET_PRESENT' },
  { type: 'RESYNC' },
  { type: 'RATE_CHANGED' },
];

const settings = {
  intervalMs: 30_000,
  retryMs: 1_000,
  batchSize: 3,
  maxInFlight: 12,
  // Apart from every other delay: two timers due at once would fire in one clock step.
  emptySetGraceMs: 12_500,
  flow: { burstMessages: 2, messagesPerSecond: 10, recoverAfterMs: 10_000, recoverStep: 0.25, minFactor: 1 / 16 },
};

const ctx = (s: AnyMachineSnapshot) => s.context as ReconcilerContext;

/** Each delay the machine must arm under `settings`, from the state it is armed in. */
const expectedDelays = {
  reconcileDelay: (s: AnyMachineSnapshot) => (ctx(s).retrySoon ? 1_000 : 30_000),
  refillDelay: (s: AnyMachineSnapshot) => Math.max(1, Math.ceil(1000 / (10 * ctx(s).flow.factor))),
  recoverDelay: () => 10_000,
  emptySetGrace: () => 12_500,
};
/** The figures every reconcile result carries, from a book (before the outbox took from it). */
const figures = (book: SubscriptionBook, cycle: number, connected: boolean) => ({
  cycle,
  connected,
  desired: countOf(book.desired),
  acknowledged: countOf(book.acked),
  in_flight: Object.keys(book.inFlight).length,
  pending: Object.keys(book.pending).length,
});
const NO_DRIFT = { drift: 0, missing: [], extra: [], corrections: 0 };
/** Metrics that moved in a step, as deltas. */
const moved = (b: ReconcilerContext, a: ReconcilerContext) => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a.metrics)) {
    const was = (b.metrics as unknown as Record<string, unknown>)[k];
    if (v !== was) out[k] = typeof v === 'number' ? v - (was as number) : v;
  }
  return out;
};
const keys = (o: Record<string, unknown> | null) => Object.keys(o ?? {}).sort();

function checkStep(r: StepRecord, path: string): void {
  const { before, after, event } = r;
  const b = ctx(before);
  const a = ctx(after);
  const sent = r.sent.filter((m) => m.to === CONNECTION_ID).map((m) => m.event);
  const emitted = (type: string) => r.emitted.filter((e) => e.type === type);

  // A new connection, lost DISCONNECTED or not, starts from nothing: only a fresh read fills it.
  if (event.type === 'CONNECTED' || event.type === 'DISCONNECTED') {
    expect(keys(a.book.acked), path).toEqual([]);
    expect(keys(a.book.inFlight), path).toEqual([]);
    expect(a.book.desired, path).toBeNull();
    expect(a.recentHints, path).toEqual({});
  }
  if (event.type === 'CONNECTED') {
    expect(after.matches({ loop: 'reading' }), `${path}: a fresh read`).toBe(true);
    // Even after a lost DISCONNECTED: a new connection is resynced (and told SYNCED) again.
    expect(after.matches({ link: { online: 'resyncing' } }), `${path}: resyncing`).toBe(true);
  }
  if (event.type === 'DISCONNECTED') expect(after.matches({ link: 'offline' }), `${path}: offline`).toBe(true);
  // The loop: FORCE and each timer read at once; every read, done or failed, waits again.
  if (event.type === 'FORCE' || r.fired?.type.includes('reconcileDelay')) expect(after.matches({ loop: 'reading' }), `${path}: reading`).toBe(true);
  if (event.type.startsWith('xstate.done.actor') || event.type.startsWith('xstate.error.actor')) expect(after.matches({ loop: 'waiting' }), `${path}: waiting`).toBe(true);
  // A new rate applies at once: the refill timer restarts; so does the quiet period on each SLOW_DOWN.
  const paceMoved = event.type === 'SLOW_DOWN' || r.fired?.type.includes('recoverDelay') === true;
  if (paceMoved && after.matches({ bucket: 'refilling' })) expect(r.armed.some((t) => t.type.includes('refillDelay')), `${path}: refill restarted`).toBe(true);
  if (paceMoved && after.matches({ pace: 'recovering' })) expect(r.armed.some((t) => t.type.includes('recoverDelay')), `${path}: quiet period restarted`).toBe(true);
  // SYNCED exactly when the acknowledged set reaches the SET.
  const synced = sent.filter((e) => e.type === 'SYNCED');
  const inSync = after.matches({ link: { online: 'inSync' } }) && !before.matches({ link: { online: 'inSync' } });
  expect(synced.length, `${path}: SYNCED`).toBe(inSync ? 1 : 0);
  expect(emitted('synced'), path).toEqual(inSync ? [{ type: 'synced', tickers_count: countOf(a.book.acked) }] : []);
  if (inSync) {
    expect(a.book.desired, path).not.toBeNull();
    // Nothing still on its way or waiting to go: SYNCED means acknowledged.
    expect(keys(a.book.inFlight).concat(keys(a.book.pending)), `${path}: in flight or pending`).toEqual([]);
    expect(keys(a.book.acked), path).toEqual(keys(a.book.desired));
    expect(gapOf(a.book), path).toBe(0);
  }
  // What goes to the connection is exactly what the book put in flight, and only while online.
  const sends = sent.filter((e) => e.type === 'SEND');
  if (!b.online && !a.online) expect(sends, path).toEqual([]);
  for (const m of sends) for (const sym of m.symbols as string[]) expect(a.book.inFlight[sym]?.action, `${path}: ${sym}`).toBe(m.action);
  const batches = emitted('batch_sent');
  expect(batches.map((e) => [e.action, e.count]), path).toEqual(sends.map((m) => [m.action, (m.symbols as string[]).length]));
  // Each line says what is left after it: the last one what the book still holds.
  for (let i = 1; i < batches.length; i++) expect(batches[i - 1]!.pending - (batches[i]!.pending as number), path).toBe(batches[i]!.count);
  if (batches.length > 0) expect(batches.at(-1)!.pending, `${path}: pending after the sends`).toBe(countOf(a.book.pending));
  expect(a.metrics.batches_sent - b.metrics.batches_sent, path).toBe(sends.length);
  expect(a.metrics.channels_sent - b.metrics.channels_sent, path).toBe(sends.reduce((n, m) => n + (m.symbols as string[]).length, 0));
  expect(a.lastAction, path).toBe(sends.length > 0 ? sends.at(-1)!.action : b.lastAction);

  // Hints: stale ones (observed before the last full read) change nothing.
  if (event.type === 'HINTS') {
    const n = Object.keys(event.members as object).length;
    const reason = (event.obs as number) <= b.observed ? 'stale' : !event.setExists ? 'set_missing' : b.book.desired === null ? 'desired_unknown' : null;
    expect(emitted('hints_ignored'), path).toEqual(reason ? [{ type: 'hints_ignored', reason, count: n }] : []);
    expect(moved(b, a), `${path}: metrics`).toEqual(reason ? { hints_ignored: n } : { hints_applied: n, ...(sends.length > 0 ? { batches_sent: sends.length, channels_sent: sends.flatMap((m) => m.symbols as string[]).length } : {}) });
    if (reason) {
      expect(a.book.desired, path).toEqual(b.book.desired);
      expect(a.recentHints, path).toEqual(b.recentHints);
    } else {
      const remembered = { ...b.recentHints };
      for (const [sym, member] of Object.entries(event.members as Record<string, boolean>)) {
        expect(Boolean(a.book.desired?.[sym]), `${path}: ${sym}`).toBe(member);
        remembered[sym] = { obs: event.obs as number, member };
      }
      // Earlier hints are remembered too, each with its own observation.
      expect(a.recentHints, `${path}: hints remembered`).toEqual(remembered);
    }
    // A SET gone under the scanner's write: looked at again at once.
    if (reason === 'set_missing' && before.matches({ loop: 'waiting' })) expect(after.matches({ loop: 'reading' }), `${path}: FORCE raised`).toBe(true);
  }
  // Acks: only while online, applied to the book as the batcher applies them.
  if (event.type === 'ACKED' && b.online) {
    const sub = event.subscribed as string[];
    const unsub = event.unsubscribed as string[];
    const book = refreshPending(applyAcks(b.book, sub, unsub), [...sub, ...unsub]);
    expect(a.book.acked, `${path}: acked`).toEqual(book.acked);
  }
  if (event.type === 'ACKED' && !b.online) expect(a.book, `${path}: an ack offline changes nothing`).toEqual(b.book);
  // A read: the SET, except where a hint Redis executed after it says otherwise.
  if (event.type === 'xstate.done.actor.readDesired') {
    const out = event.output as SetRead;
    const believedEmpty = (!out.exists || out.members.length === 0) && b.emptyAccepted;
    if (out.exists && out.members.length > 0 || believedEmpty) {
      const want = new Set(out.members);
      for (const [sym, h] of Object.entries(b.recentHints)) if (h.obs > out.obs) (h.member ? want.add(sym) : want.delete(sym));
      expect(keys(a.book.desired), path).toEqual([...want].sort());
      expect(a.observed, path).toBe(out.obs);
      expect(a.cycle, path).toBe(b.cycle + 1);
      expect(a.retrySoon, path).toBe(false);
      // Hints newer than this read are kept for the next one; the others are spent.
      expect(keys(a.recentHints), path).toEqual(Object.entries(b.recentHints).filter(([, h]) => h.obs > out.obs).map(([sym]) => sym).sort());
      const resubscribe = b.book.desired === null;
      const { book, drift } = reconcileBook(b.book, toSymbolSet(want), b.cycle + 1);
      const counted = resubscribe || !b.online ? 0 : drift.missing.length + drift.extra.length;
      const result = {
        status: resubscribe && b.online ? 'resubscribe' : 'ok',
        at: out.at,
        ...figures(book, b.cycle + 1, b.online),
        drift: counted,
        missing: resubscribe ? [] : drift.missing,
        extra: resubscribe ? [] : drift.extra,
        corrections: counted,
      };
      expect(a.lastResult, `${path}: result`).toEqual(result);
      expect(emitted('reconciled'), path).toEqual([{ type: 'reconciled', result }]);
      expect(emitted('resubscribing'), path).toEqual(resubscribe && b.online ? [{ type: 'resubscribing', tickers_count: want.size }] : []);
      const m = moved(b, a);
      expect([m.reconciliations_count, m.total_drift_detected ?? 0, m.total_corrections ?? 0, m.resubscriptions ?? 0, a.metrics.last_reconciliation], `${path}: metrics`).toEqual([
        1,
        counted,
        counted,
        resubscribe && b.online ? 1 : 0,
        out.at,
      ]);
      expect(m.set_missing_reads ?? 0, path).toBe(out.members.length === 0 ? 1 : 0);
      expect(emitted('set_missing'), path).toEqual(out.members.length === 0 ? [{ type: 'set_missing', exists: out.exists }] : []);
    } else {
      // A missing or empty SET is doubted: nothing unsubscribed, looked at again soon.
      expect(a.book.desired, path).toEqual(b.book.desired);
      expect(a.retrySoon, path).toBe(true);
      expect([a.cycle, a.observed], path).toEqual([b.cycle, b.observed]);
      expect(emitted('set_missing'), path).toEqual([{ type: 'set_missing', exists: out.exists }]);
      const result = { status: 'set_missing', at: out.at, ...figures(b.book, b.cycle, b.online), ...NO_DRIFT };
      expect(a.lastResult, `${path}: result`).toEqual(result);
      expect(emitted('reconciled'), path).toEqual([{ type: 'reconciled', result }]);
      expect(moved(b, a), `${path}: metrics`).toEqual({ set_missing_reads: 1 });
    }
    // Present again, or doubted (a believed-empty SET stays believed).
    if (out.members.length > 0) expect(after.matches({ presence: 'present' }), path).toBe(true);
    else expect(after.matches({ presence: 'present' }), path).toBe(false);
  }
  if (event.type === 'xstate.error.actor.readDesired') {
    expect(emitted('read_failed'), path).toEqual([{ type: 'read_failed', error: 'redis down' }]);
    expect(a.retrySoon, path).toBe(true);
    const result = { status: 'read_failed', at: null, ...figures(b.book, b.cycle, b.online), ...NO_DRIFT, error: 'redis down' };
    expect(a.lastResult, `${path}: result`).toEqual(result);
    expect(emitted('reconciled'), path).toEqual([{ type: 'reconciled', result }]);
    expect(moved(b, a), `${path}: metrics`).toEqual({ read_failures: 1 });
  }
  // Presence: the SET back means present, from doubt or from belief.
  if (event.type === 'SET_PRESENT') expect(after.matches({ presence: 'present' }), path).toBe(true);
  // An empty SET is believed after the grace period: everything acknowledged is let go.
  const accepted = r.fired?.type.includes('emptySetGrace') === true;
  expect(emitted('set_empty_accepted'), path).toEqual(accepted ? [{ type: 'set_empty_accepted', unsubscribing: countOf(b.book.acked) }] : []);
  if (accepted) {
    expect(after.matches({ presence: 'confirmedEmpty' }), path).toBe(true);
    expect(a.book.desired, path).toEqual({});
  }
  // Pace: SLOW_DOWN lowers it at once, each quiet period gives a step back.
  const paces = emitted('pace_changed');
  if (event.type === 'SLOW_DOWN') {
    expect(a.flow.factor, path).toBe(Math.max(1 / 16, Math.min(b.flow.factor / 2, 4 / 2 / 2)));
    expect(paces, path).toEqual([{ type: 'pace_changed', reason: 'slow_down', factor: a.flow.factor, burst: burstOf(settings.flow as never, a.flow), messages_per_second: ratePerSecond(settings.flow as never, a.flow) }]);
    expect(a.metrics.slow_downs, path).toBe(b.metrics.slow_downs + 1);
  } else if (r.fired?.type.includes('recoverDelay')) {
    expect(a.flow.factor, path).toBe(Math.min(1, b.flow.factor + 0.25));
    expect(paces, path).toEqual([{ type: 'pace_changed', reason: 'recovered', factor: a.flow.factor, burst: burstOf(settings.flow as never, a.flow), messages_per_second: ratePerSecond(settings.flow as never, a.flow) }]);
  } else expect(paces, path).toEqual([]);
}

describe('reconciler statechart, model-based', () => {
  it('walks every state and transition on the simulated clock; every step keeps its promises', () => {
    const report = walkModel({
      machine,
      input: { settings },
      events,
      systemId: 'reconciler',
      peers: [CONNECTION_ID],
      maxDepth: 4,
      key: (s) => {
        const c = ctx(s);
        return [c.book, c.flow.factor, Math.min(c.flow.tokens, 1), c.observed, c.recentHints, c.retrySoon];
      },
      delays: expectedDelays,
      step: checkStep,
      check: (s, path) => {
        const { book, online, emptyAccepted, flow } = ctx(s);
        expect(online, path).toBe(s.matches({ link: 'online' }));
        expect(emptyAccepted, path).toBe(s.matches({ presence: 'confirmedEmpty' }));
        if (!online) expect(keys(book.acked).concat(keys(book.inFlight)), path).toEqual([]);
        for (const [sym, action] of Object.entries(book.pending)) expect(neededAction(book, sym), `${path}: ${sym}`).toBe(action);
        expect(flow.tokens, path).toBeGreaterThanOrEqual(0);
        expect(flow.tokens, path).toBeLessThanOrEqual(burstOf(settings.flow as never, flow));
        expect(s.matches({ pace: 'steady' }), `${path}: steady exactly at full pace`).toBe(flow.factor === 1);
        expect(s.matches({ bucket: 'full' }), `${path}: full exactly at the burst`).toBe(flow.tokens >= burstOf(settings.flow as never, flow));
        // Hints are taken in every state; a SET seen again is believed in any presence state.
        expect(s.can({ type: 'HINTS', obs: 1, setExists: true, members: {} }), `${path}: HINTS`).toBe(true);
        if (!s.matches({ presence: 'present' })) expect(s.can({ type: 'SET_PRESENT' }), `${path}: SET_PRESENT`).toBe(true);
        if (path === '(initial)') expect([ctx(s).retrySoon, online, emptyAccepted, ctx(s).cycle, ctx(s).observed], path).toEqual([false, false, false, 0, 0]);
        expect(Object.keys(book.inFlight).length, path).toBeLessThanOrEqual(settings.maxInFlight);
      },
    });
    expectFullCoverage(report);
    expect(report.eventless).toBeGreaterThan(0);
  });

  it('the production defaults: a read every 30 s, a retry after 1 s, 60 s of grace', () => {
    const report = walkModel({
      machine,
      events: [{ type: 'CONNECTED' }, read(1, []), read(2, ['AAPL']), { type: 'SLOW_DOWN' }],
      systemId: 'reconciler',
      peers: [CONNECTION_ID],
      maxDepth: 4,
      delays: {
        reconcileDelay: (s) => (ctx(s).retrySoon ? 1_000 : 30_000),
        refillDelay: (s) => Math.max(1, Math.ceil(1000 / (20 * ctx(s).flow.factor))),
        recoverDelay: () => 30_000,
        emptySetGrace: () => 60_000,
      },
    });
    for (const d of ['reconcileDelay', 'recoverDelay', 'emptySetGrace', 'refillDelay']) expect(report.delaysChecked.get(d), d).toBeGreaterThan(0);
  });
});

describe('reconciler statechart, paths deeper than the walk', () => {
  it('a read that finds one symbol gone and one new at once counts both as drift', () => {
    const report = walkModel({
      machine,
      input: { settings },
      events: [read(12, ['NIO'])],
      systemId: 'reconciler',
      peers: [CONNECTION_ID],
      maxDepth: 1,
      // Connected, AAPL read and acknowledged, then a forced read.
      starts: [[events[0]!, read(1, ['AAPL']), events[3]!, { type: 'FORCE' }]],
      delays: expectedDelays,
      step: checkStep,
    });
    expect(report.steps).toBeGreaterThan(4);
  });
});

describe('reconciler statechart, alone', () => {
  it('with no connection registered it sends nothing to anyone, itself included', () => {
    // XState delivers a send to a missing actor to the sender itself.
    walkModel({
      machine,
      input: { settings },
      events: [{ type: 'CONNECTED' }, read(1, ['AAPL']), { type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] }],
      systemId: 'reconciler',
      maxDepth: 3,
      delays: { reconcileDelay: () => [0, 60_001], refillDelay: () => [0, 60_001], recoverDelay: () => [0, 60_001], emptySetGrace: () => [0, 60_001] },
      step: (r, path) => {
        expect(r.sent, path).toEqual([]);
        // It still believes it sent: the batch and SYNCED are its own business.
        if (r.event.type === 'xstate.done.actor.readDesired' && ctx(r.before).online) expect(r.emitted.filter((e) => e.type === 'batch_sent').length, path).toBe(1);
      },
    });
  });
});
