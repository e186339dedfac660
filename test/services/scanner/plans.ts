import type { CategoryLists, CategoryRow } from '../../../src/scanner/categories.js';
import { planCycle, type CyclePlan, type ScannerMemory } from '../../../src/scanner/cycle-plan.js';
import { CATEGORIES } from '../../../src/shared/redis-keys.js';

/**
 * Lists whose rows all carry `tag` as their price, over `symbols` spread across the categories
 * (each symbol in one or two lists), so a reader can tell which scan a list belongs to.
 */
export function taggedLists(symbols: readonly string[], tag: number): CategoryLists {
  const out = {} as CategoryLists;
  CATEGORIES.forEach((c, ci) => {
    const mine = symbols.filter((_, i) => i % CATEGORIES.length === ci || i % 7 === ci);
    out[c] = mine.map(
      (symbol, i): CategoryRow => ({
        symbol, rank: i + 1, price: tag, change_percent: 5, volume: 1000, rvol: 2, market_cap: null,
        gap_percent: 5, prev_close: 1, day_high: null, day_low: null, score: 5,
      }),
    );
  });
  return out;
}

export function plan(memory: ScannerMemory, lists: CategoryLists, takenAtMs = Date.parse('2025-11-25T16:00:00Z')): CyclePlan {
  return planCycle(memory, lists, { source: 'simulated', takenAtMs, session: 'MARKET_OPEN' }, { snapshotEvery: 30 });
}

export const symbolsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String.fromCharCode(65 + (i % 26))}${Math.floor(i / 26)}`);
