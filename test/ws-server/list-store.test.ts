import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDeltaItems, ListStore, type Row } from '../../src/ws-server/list-store.js';
import { diffRows } from './helpers/fake-scanner.js';

const row = (symbol: string, rank: number, price = 1): Row => ({ symbol, rank, price });

const rowsArb = fc
  .uniqueArray(fc.constantFrom('AA', 'BB', 'CC', 'DD', 'EE', 'FF', 'GG', 'HH', 'II', 'JJ'), { maxLength: 10 })
  .chain((syms) =>
    fc.tuple(
      fc.shuffledSubarray(syms, { minLength: syms.length, maxLength: syms.length }),
      fc.array(fc.integer({ min: 1, max: 500 }), { minLength: syms.length, maxLength: syms.length }),
    ),
  )
  .map(([syms, prices]) => syms.map((s, i) => ({ symbol: s, rank: i + 1, price: prices[i] ?? 1 }) as Row));

describe('applyDeltaItems', () => {
  it('applies add, remove, update and rerank, ordered by rank', () => {
    const before = [row('AA', 1), row('BB', 2), row('CC', 3)];
    const after = applyDeltaItems(before, [
      { action: 'remove', symbol: 'BB' },
      { action: 'add', symbol: 'DD', data: { symbol: 'DD', rank: 1, price: 9 } },
      { action: 'rerank', symbol: 'AA', new_rank: 2, old_rank: 1 },
      { action: 'update', symbol: 'CC', data: { price: 5 } },
    ]);
    expect(after).toEqual([row('DD', 1, 9), row('AA', 2), { symbol: 'CC', rank: 3, price: 5 }]);
    expect(before).toEqual([row('AA', 1), row('BB', 2), row('CC', 3)]);
  });

  it('keeps symbol as the first field and the delta symbol over the data one', () => {
    const [r] = applyDeltaItems([], [{ action: 'add', symbol: 'XX', data: { price: 1, symbol: 'YY', rank: 1 } }]);
    expect(Object.keys(r ?? {})[0]).toBe('symbol');
    expect(r?.symbol).toBe('XX');
  });

  it('rebuilds any next ranking from the previous one and their diff, and is idempotent', () => {
    fc.assert(
      fc.property(rowsArb, rowsArb, (prev, next) => {
        const d = diffRows(prev, next);
        const once = applyDeltaItems(prev, d);
        expect(once).toEqual(next);
        // A delta applied to a state that already holds it changes nothing.
        expect(applyDeltaItems(once, d)).toEqual(next);
      }),
    );
  });
});

describe('ListStore', () => {
  it('starts with eleven empty lists of unknown sequence', () => {
    const s = new ListStore();
    expect(s.get('gappers_up')).toMatchObject({ rows: [], known: false });
    expect(s.step('gappers_up', 1)).toBe('gap');
  });

  it('classifies sequences as next, duplicate or gap', () => {
    const s = new ListStore();
    s.replace('winners', [row('AA', 1)], 7);
    expect(s.step('winners', 8)).toBe('next');
    expect(s.step('winners', 7)).toBe('duplicate');
    expect(s.step('winners', 9)).toBe('gap');
    expect(s.step('winners', 3)).toBe('gap');
    s.markUnknown('winners');
    expect(s.step('winners', 8)).toBe('gap');
  });

  it('keeps symbolToLists in step with every change', () => {
    const s = new ListStore();
    s.replace('winners', [row('AA', 1), row('BB', 2)], 1);
    s.replace('gappers_up', [row('BB', 1)], 1);
    expect([...(s.listsOf('BB') ?? [])].sort()).toEqual(['gappers_up', 'winners']);
    s.apply('winners', [{ action: 'remove', symbol: 'BB' }, { action: 'add', symbol: 'CC', data: { rank: 3 } }], 2);
    expect([...(s.listsOf('BB') ?? [])]).toEqual(['gappers_up']);
    expect([...(s.listsOf('CC') ?? [])]).toEqual(['winners']);
    s.replace('gappers_up', [], 2);
    expect(s.listsOf('BB')).toBeUndefined();
    expect(s.symbolCount()).toBe(2);
  });

  it('serialises a snapshot once per state and reports whether a replace changed anything', () => {
    const s = new ListStore();
    expect(s.replace('losers', [row('AA', 1)], 4)).toBe(true);
    const f = s.snapshotFrame('losers');
    expect(JSON.parse(f.toString())).toEqual({ type: 'snapshot', list: 'losers', sequence: 4, rows: [row('AA', 1)] });
    expect(s.snapshotFrame('losers')).toBe(f);
    expect(s.replace('losers', [row('AA', 1)], 4)).toBe(false);
    expect(s.snapshotFrame('losers')).toBe(f);
    expect(s.replace('losers', [row('AA', 1)], null)).toBe(true);
    s.apply('losers', [{ action: 'update', symbol: 'AA', data: { price: 3 } }], 5);
    expect(s.snapshotFrame('losers')).not.toBe(f);
    expect(JSON.parse(s.snapshotFrame('losers').toString()).sequence).toBe(5);
  });
});
