import { describe, expect, it } from 'vitest';
import {
  allSymbols,
  countOf,
  emptyBook,
  gapOf,
  neededAction,
  reconcileBook,
  refreshPending,
  toSymbolSet,
  type InFlight,
  type SubAction,
  type SubscriptionBook,
} from '../../src/subscriptions/subscription-book.js';

// The reconciler's ledger: what must be sent for a symbol, how `pending` follows the other three
// sets, and what a reconciliation counts as drift.

function book(parts: {
  desired?: string[] | null;
  acked?: string[];
  inFlight?: Record<string, InFlight>;
  pending?: Record<string, SubAction>;
}): SubscriptionBook {
  return {
    desired: parts.desired === null ? null : toSymbolSet(parts.desired ?? []),
    acked: toSymbolSet(parts.acked ?? []),
    inFlight: parts.inFlight ?? {},
    pending: parts.pending ?? {},
  };
}

const sub = (cycle: number): InFlight => ({ action: 'subscribe', cycle });
const unsub = (cycle: number): InFlight => ({ action: 'unsubscribe', cycle });

describe('neededAction', () => {
  type Flying = 'none' | SubAction;
  // want, have, in flight → what must still be sent
  const table: [boolean, boolean, Flying, SubAction | null][] = [
    [true, false, 'none', 'subscribe'],
    [true, false, 'subscribe', null],
    [true, false, 'unsubscribe', 'subscribe'],
    [false, true, 'none', 'unsubscribe'],
    [false, true, 'unsubscribe', null],
    [false, true, 'subscribe', 'unsubscribe'],
    [true, true, 'none', null],
    [true, true, 'subscribe', null],
    [true, true, 'unsubscribe', null],
    [false, false, 'none', null],
    [false, false, 'subscribe', null],
    [false, false, 'unsubscribe', null],
  ];

  it.each(table)('want=%s have=%s in flight=%s → %s', (want, have, flying, expected) => {
    const b = book({
      desired: want ? ['X'] : ['OTHER'],
      acked: have ? ['X'] : [],
      inFlight: flying === 'none' ? {} : { X: { action: flying, cycle: 0 } },
    });
    expect(neededAction(b, 'X')).toBe(expected);
  });

  it.each(table)('with desired unknown nothing is ever needed (want=%s have=%s in flight=%s)', (_want, have, flying) => {
    const b = book({ desired: null, acked: have ? ['X'] : [], inFlight: flying === 'none' ? {} : { X: { action: flying, cycle: 0 } } });
    expect(neededAction(b, 'X')).toBeNull();
  });

  it('ignores what is pending: it is derived from the rest', () => {
    expect(neededAction(book({ desired: ['X'], pending: { X: 'unsubscribe' } }), 'X')).toBe('subscribe');
  });
});

describe('refreshPending', () => {
  it('adds what is needed for the given symbols only', () => {
    const b = book({ desired: ['A', 'B'], acked: ['C'] });
    expect(refreshPending(b, ['A']).pending).toEqual({ A: 'subscribe' });
    expect(refreshPending(b, ['A', 'B', 'C', 'D']).pending).toEqual({ A: 'subscribe', B: 'subscribe', C: 'unsubscribe' });
  });

  it('drops what is no longer needed, and flips what changed its mind', () => {
    const b = book({ desired: ['A'], acked: ['A', 'B'], pending: { A: 'subscribe', B: 'subscribe', C: 'subscribe' } });
    expect(refreshPending(b, ['A', 'B', 'C']).pending).toEqual({ B: 'unsubscribe' });
  });

  it('returns the same book when nothing changes, and never mutates its input', () => {
    const b = book({ desired: ['A'], acked: ['B'], pending: { A: 'subscribe', B: 'unsubscribe' } });
    const frozen = JSON.stringify(b);
    expect(refreshPending(b, ['A', 'B', 'Z'])).toBe(b);
    expect(refreshPending(b, [])).toBe(b);
    const changed = refreshPending({ ...b, desired: toSymbolSet(['B']) }, ['A', 'B']);
    expect(changed.pending).toEqual({});
    expect(JSON.stringify(b)).toBe(frozen);
  });

  it('a hint applied to the desired set moves pending, the way the machine applies hints', () => {
    let b = book({ desired: ['A'], acked: ['A'] });
    b = refreshPending({ ...b, desired: toSymbolSet(['B']) }, ['A', 'B']);
    expect(b.pending).toEqual({ A: 'unsubscribe', B: 'subscribe' });
    b = refreshPending({ ...b, desired: toSymbolSet(['A', 'B']) }, ['A']);
    expect(b.pending).toEqual({ B: 'subscribe' });
  });

  it('with desired unknown, everything pending is dropped', () => {
    const b = book({ desired: null, acked: ['A'], pending: { A: 'unsubscribe', B: 'subscribe' } });
    expect(refreshPending(b, ['A', 'B']).pending).toEqual({});
  });
});

describe('reconcileBook', () => {
  it('finds missing and extra symbols, sorted, and queues them', () => {
    const prev = book({ desired: ['A', 'B', 'Z', 'Y'], acked: ['A', 'B', 'Z', 'Y'] });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['B', 'A', 'M', 'C']), 5);
    expect(drift).toEqual({ missing: ['C', 'M'], extra: ['Y', 'Z'] });
    expect(next.pending).toEqual({ C: 'subscribe', M: 'subscribe', Y: 'unsubscribe', Z: 'unsubscribe' });
    expect(next.desired).toEqual(toSymbolSet(['A', 'B', 'C', 'M']));
    expect(next.acked).toBe(prev.acked);
  });

  it('no drift when desired and acked agree', () => {
    const prev = book({ desired: ['A'], acked: ['A', 'B'] });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['A', 'B']), 1);
    expect(drift).toEqual({ missing: [], extra: [] });
    expect(next.pending).toEqual({});
    expect(gapOf(next)).toBe(0);
  });

  it('what the previous cycle already queued is on its way, not drift', () => {
    const prev = book({ desired: ['A'], acked: ['Z'], pending: { A: 'subscribe', Z: 'unsubscribe' } });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['A']), 3);
    expect(drift).toEqual({ missing: [], extra: [] });
    expect(next.pending).toEqual({ A: 'subscribe', Z: 'unsubscribe' });
  });

  it('a queued request that now points the other way is drift', () => {
    // B was queued for a subscribe, then acked anyway, and the SET no longer has it: it now needs
    // an unsubscribe nobody queued.
    const prev = book({ desired: ['A', 'B'], acked: ['A', 'B'], pending: { B: 'subscribe' } });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['A']), 2);
    expect(next.pending).toEqual({ B: 'unsubscribe' });
    expect(drift).toEqual({ missing: [], extra: ['B'] });
  });

  it('fresh in-flight requests (this cycle or the previous one) are kept and not counted', () => {
    const prev = book({ desired: ['A', 'B'], acked: ['Z', 'Y'], inFlight: { A: sub(4), B: sub(3), Z: unsub(4), Y: unsub(3) } });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['A', 'B']), 4);
    expect(next.inFlight).toEqual(prev.inFlight);
    expect(next.pending).toEqual({});
    expect(drift).toEqual({ missing: [], extra: [] });
  });

  it('stale in-flight requests (older than the previous cycle) are presumed lost: resent and counted', () => {
    const prev = book({ desired: ['A', 'B'], acked: ['Z', 'Y'], inFlight: { A: sub(2), B: sub(3), Z: unsub(2), Y: unsub(3) } });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet(['A', 'B']), 4);
    expect(next.inFlight).toEqual({ B: sub(3), Y: unsub(3) });
    expect(next.pending).toEqual({ A: 'subscribe', Z: 'unsubscribe' });
    expect(drift).toEqual({ missing: ['A'], extra: ['Z'] });
  });

  it('a stale request that is no longer needed is simply forgotten', () => {
    const prev = book({ desired: ['A'], acked: [], inFlight: { A: sub(1), Q: sub(1) } });
    const { book: next, drift } = reconcileBook(prev, toSymbolSet([]), 9);
    expect(next.inFlight).toEqual({});
    expect(next.pending).toEqual({});
    expect(drift).toEqual({ missing: [], extra: [] });
  });

  it('after a (re)connect (desired unknown) everything desired is missing', () => {
    const { book: next, drift } = reconcileBook(emptyBook, toSymbolSet(['B', 'A']), 1);
    expect(drift).toEqual({ missing: ['A', 'B'], extra: [] });
    expect(next.pending).toEqual({ A: 'subscribe', B: 'subscribe' });
    // Even pending entries left from before are counted again when desired was unknown.
    const again = reconcileBook({ ...emptyBook, pending: { A: 'subscribe' } }, toSymbolSet(['A']), 1);
    expect(again.drift.missing).toEqual(['A']);
  });

  it('does not mutate its input', () => {
    const prev = book({ desired: ['A'], acked: ['Z'], inFlight: { A: sub(0) }, pending: { Z: 'unsubscribe' } });
    const frozen = JSON.stringify(prev);
    reconcileBook(prev, toSymbolSet(['B']), 7);
    expect(JSON.stringify(prev)).toBe(frozen);
  });
});

describe('gapOf, countOf, allSymbols, toSymbolSet', () => {
  it('gapOf is the symmetric difference of desired and acked, null while desired is unknown', () => {
    expect(gapOf(emptyBook)).toBeNull();
    expect(gapOf(book({ desired: null, acked: ['A'] }))).toBeNull();
    expect(gapOf(book({ desired: [], acked: [] }))).toBe(0);
    expect(gapOf(book({ desired: ['A', 'B', 'C'], acked: ['B', 'C', 'D', 'E'] }))).toBe(3);
    // In flight or pending does not close the gap: only acks do.
    expect(gapOf(book({ desired: ['A'], inFlight: { A: sub(1) }, pending: {} }))).toBe(1);
  });

  it('countOf counts a set, zero for unknown', () => {
    expect(countOf(null)).toBe(0);
    expect(countOf(toSymbolSet(['A', 'B', 'A']))).toBe(2);
  });

  it('allSymbols is the union of all four parts', () => {
    const b = book({ desired: ['A'], acked: ['B'], inFlight: { C: sub(0) }, pending: { D: 'subscribe' } });
    expect([...allSymbols(b)].sort()).toEqual(['A', 'B', 'C', 'D']);
    expect([...allSymbols(emptyBook)]).toEqual([]);
  });

  it('emptyBook knows nothing', () => {
    expect(emptyBook).toEqual({ desired: null, acked: {}, inFlight: {}, pending: {} });
  });
});
