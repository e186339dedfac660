import { describe, expect, it } from 'vitest';
import type { CategoryLists, CategoryRow } from '../../src/scanner/categories.js';
import { applyDeltas } from '../../src/scanner/deltas.js';
import { memoryFromPersisted, planCycle, type ScannerMemory } from '../../src/scanner/cycle-plan.js';
import { CATEGORIES, type Category } from '../../src/shared/redis-keys.js';

function row(symbol: string, rank: number, price = 10): CategoryRow {
  return {
    symbol, rank, price, change_percent: 1, volume: 1000, rvol: 1, market_cap: null,
    gap_percent: 0, prev_close: 10, day_high: null, day_low: null, score: 1,
  };
}

function lists(spec: Partial<Record<Category, string[]>>, price = 10): CategoryLists {
  const out = {} as CategoryLists;
  for (const c of CATEGORIES) out[c] = (spec[c] ?? []).map((s, i) => row(s, i + 1, price));
  return out;
}

const META = { source: 'simulated' as const, takenAtMs: Date.parse('2025-11-25T11:48:55.123Z'), session: 'PRE_MARKET' as const };

function run(memory: ScannerMemory, l: CategoryLists, snapshotEvery = 30) {
  return planCycle(memory, l, META, { snapshotEvery });
}

describe('planCycle', () => {
  it('first scan: a snapshot per list, sequences from 1, subscribe for every symbol once', () => {
    const plan = run(memoryFromPersisted({ sequences: {}, active: [] }), lists({ gappers_up: ['AAPL', 'TSLA'], winners: ['AAPL', 'NVDA'] }));
    expect(plan.messages).toHaveLength(11);
    expect(plan.messages.every((m) => m.type === 'snapshot' && m.sequence === 1)).toBe(true);
    expect(plan.active).toEqual(['AAPL', 'NVDA', 'TSLA']);
    expect(plan.events).toEqual(
      ['AAPL', 'NVDA', 'TSLA'].map((symbol) => ({
        symbol, action: 'subscribe', source: 'scanner_auto', session: 'PRE_MARKET', timestamp: '2025-11-25T11:48:55.123Z',
      })),
    );
  });

  it('events only for symbols entering their first list or leaving their last', () => {
    const first = run(memoryFromPersisted({ sequences: {}, active: [] }), lists({ gappers_up: ['AAPL', 'TSLA'], winners: ['AAPL'] }));
    // AAPL leaves gappers_up but stays in winners; TSLA leaves everything; NIO arrives in two lists.
    const second = run(first.next, lists({ gappers_up: ['NIO'], winners: ['AAPL', 'NIO'] }));
    expect(second.events.map((e) => `${e.action} ${e.symbol}`)).toEqual(['subscribe NIO', 'unsubscribe TSLA']);
    const third = run(second.next, lists({ gappers_up: ['NIO'], winners: ['AAPL', 'NIO'] }, 11));
    expect(third.events).toEqual([]);
  });

  it('deltas after the first scan, each sequence one more, and the deltas rebuild the lists', () => {
    let memory = memoryFromPersisted({ sequences: { winners: 66 }, active: [] });
    const seen: Record<string, CategoryRow[]> = {};
    const scans = [
      lists({ winners: ['A', 'B', 'C'] }),
      lists({ winners: ['A', 'C', 'B'] }),
      lists({ winners: ['A', 'C', 'B'] }, 12),
      lists({ winners: ['A', 'C', 'D'] }, 12),
    ];
    scans.forEach((l, i) => {
      const plan = run(memory, l);
      const msg = plan.messages.find((m) => m.list === 'winners')!;
      expect(msg.sequence).toBe(67 + i);
      expect(msg.type).toBe(i === 0 ? 'snapshot' : 'delta');
      seen.winners = applyDeltas(seen.winners ?? [], msg);
      expect(seen.winners).toEqual(l.winners);
      memory = plan.next;
    });
  });

  it('a periodic snapshot every `snapshotEvery` messages', () => {
    let memory = memoryFromPersisted({ sequences: {}, active: [] });
    const types: string[] = [];
    for (let i = 0; i < 7; i++) {
      const plan = run(memory, lists({ losers: ['X'] }), 3);
      types.push(plan.messages.find((m) => m.list === 'losers')!.type);
      memory = plan.next;
    }
    expect(types).toEqual(['snapshot', 'delta', 'delta', 'snapshot', 'delta', 'delta', 'snapshot']);
  });

  it('after a restart: sequences continue, lists start with a snapshot, events diff against the SET in Redis', () => {
    const memory = memoryFromPersisted({ sequences: Object.fromEntries(CATEGORIES.map((c) => [c, 41])), active: ['AAPL', 'OLD'] });
    const plan = run(memory, lists({ momentum_up: ['AAPL', 'NEW'] }));
    expect(plan.messages.every((m) => m.type === 'snapshot' && m.sequence === 42)).toBe(true);
    expect(plan.events.map((e) => `${e.action} ${e.symbol}`)).toEqual(['subscribe NEW', 'unsubscribe OLD']);
    expect(plan.sequences.reversals).toBe(42);
  });

  it('counts what it plans', () => {
    const plan = run(memoryFromPersisted({ sequences: {}, active: ['GONE'] }), lists({ anomalies: ['A', 'B'] }));
    expect(plan.stats).toMatchObject({ active: 2, snapshots: 11, deltas: 0, subscribes: 2, unsubscribes: 1 });
    expect(plan.stats.rows.anomalies).toBe(2);
  });
});
