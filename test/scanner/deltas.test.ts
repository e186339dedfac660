import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CategoryRow } from '../../src/scanner/categories.js';
import { applyDeltas, DeltaApplyError, diffRows, rankingMessage, type DeltaMessage } from '../../src/scanner/deltas.js';

function row(symbol: string, rank: number, price = 10, volume = 1000): CategoryRow {
  return {
    symbol, rank, price, change_percent: 1, volume, rvol: 1, market_cap: null,
    gap_percent: 0, prev_close: 10, day_high: null, day_low: null, score: 1,
  };
}

/** A ranked list drawn from a small universe, so consecutive lists overlap often. */
const listArb = fc
  .uniqueArray(
    fc.record({
      symbol: fc.constantFrom('AAPL', 'TSLA', 'NVDA', 'GOOGL', 'AMD', 'ICON', 'AEHL', 'NIO', 'SOXS', 'MSTZ', 'GOOG', 'META'),
      price: fc.constantFrom(1.28, 10, 10.5, 250),
      volume: fc.constantFrom(1000, 7_291_996),
      market_cap: fc.constantFrom(null, 2_342_002),
    }),
    { selector: (r) => r.symbol, maxLength: 12 },
  )
  .map((rs) => rs.map((r, i) => ({ ...row(r.symbol, i + 1, r.price, r.volume), market_cap: r.market_cap })));

const asDelta = (oldRows: CategoryRow[], newRows: CategoryRow[]): DeltaMessage => {
  const deltas = diffRows(oldRows, newRows);
  return { type: 'delta', list: 'gappers_up', sequence: 2, deltas, change_count: deltas.length };
};

describe('deltas', () => {
  it('applying the diff of two lists to the old one gives the new one exactly', () => {
    fc.assert(
      fc.property(listArb, listArb, (oldRows, newRows) => {
        const msg = asDelta(oldRows, newRows);
        expect(applyDeltas(oldRows, msg)).toEqual(newRows);
        // …also as a reader gets it: through JSON in the stream.
        const wire = JSON.parse(JSON.stringify(msg)) as DeltaMessage;
        expect(applyDeltas(JSON.parse(JSON.stringify(oldRows)) as CategoryRow[], wire)).toEqual(newRows);
      }),
      { numRuns: 2000 },
    );
  });

  it('the message chosen for a scan, snapshot or delta, always yields the new list', () => {
    fc.assert(
      fc.property(fc.option(listArb, { nil: null }), listArb, fc.boolean(), (previous, rows, force) => {
        const msg = rankingMessage({ list: 'winners', sequence: 7, previous, rows, forceSnapshot: force });
        expect(applyDeltas(previous ?? [], msg)).toEqual(rows);
        if (previous === null || force) expect(msg.type).toBe('snapshot');
        if (msg.type === 'delta') {
          expect(msg.change_count).toBe(msg.deltas.length);
          expect(msg.deltas.length).toBeLessThanOrEqual(rows.length);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('speaks the contract\'s four actions', () => {
    const before = [row('AAPL', 1), row('TSLA', 2), row('NVDA', 3), row('GOOGL', 4)];
    const after = [row('GOOGL', 1), row('NVDA', 2, 11), row('AAPL', 3), row('AMD', 4)];
    expect(diffRows(before, after)).toEqual([
      { action: 'remove', symbol: 'TSLA' },
      { action: 'rerank', symbol: 'GOOGL', new_rank: 1, old_rank: 4 },
      { action: 'update', symbol: 'NVDA', data: row('NVDA', 2, 11) },
      { action: 'rerank', symbol: 'AAPL', new_rank: 3, old_rank: 1 },
      { action: 'add', symbol: 'AMD', data: row('AMD', 4) },
    ]);
    expect(diffRows(before, before)).toEqual([]);
  });

  it('sends a snapshot when the delta would be larger than the list', () => {
    const before = [row('A', 1), row('B', 2), row('C', 3)];
    const allNew = [row('X', 1), row('Y', 2)];
    expect(rankingMessage({ list: 'losers', sequence: 3, previous: before, rows: allNew, forceSnapshot: false })).toEqual({
      type: 'snapshot', list: 'losers', sequence: 3, rows: allNew,
    });
    const emptied = rankingMessage({ list: 'losers', sequence: 4, previous: before, rows: [], forceSnapshot: false });
    expect(emptied.type).toBe('snapshot');
    const quiet = rankingMessage({ list: 'losers', sequence: 5, previous: [], rows: [], forceSnapshot: false });
    expect(quiet).toEqual({ type: 'delta', list: 'losers', sequence: 5, deltas: [], change_count: 0 });
  });

  it('refuses a delta that does not fit the reader\'s list', () => {
    const list = [row('A', 1), row('B', 2)];
    const bad = (deltas: DeltaMessage['deltas']): DeltaMessage => ({ type: 'delta', list: 'winners', sequence: 1, deltas, change_count: deltas.length });
    expect(() => applyDeltas(list, bad([{ action: 'remove', symbol: 'Z' }]))).toThrow(DeltaApplyError);
    expect(() => applyDeltas(list, bad([{ action: 'add', symbol: 'A', data: row('A', 3) }]))).toThrow(DeltaApplyError);
    expect(() => applyDeltas(list, bad([{ action: 'rerank', symbol: 'A', new_rank: 2, old_rank: 5 }]))).toThrow(DeltaApplyError);
    expect(() => applyDeltas(list, bad([{ action: 'rerank', symbol: 'A', new_rank: 2, old_rank: 1 }]))).toThrow(/ranks/);
  });
});
