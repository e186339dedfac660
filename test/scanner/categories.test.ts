import { describe, expect, it } from 'vitest';
import { computeCategories, DEFAULT_RULES, describeRules, describeUniverse, parseRuleOverrides, type CategoryRules } from '../../src/scanner/categories.js';
import type { MarketSession } from '../../src/scanner/market-session.js';
import type { MarketSnapshot, TickerSnapshot } from '../../src/scanner/market-snapshot.js';
import { CATEGORIES } from '../../src/shared/redis-keys.js';

// Noon in the regular session: 39.6 % of a typical day's volume has traded, and a normal
// minute is 0.9 / 390 of a day.
const NOON = 12 * 60;
const NORMAL_AT_NOON = 396_154; // 1M-share stock at relative volume 1
const NORMAL_MINUTE = 2_308;

interface StockSpec {
  price?: number;
  prevClose?: number;
  open?: number;
  high?: number;
  low?: number;
  prevHigh?: number;
  prevLow?: number;
  volume?: number;
  minute?: { open: number; close: number; volume: number };
  noDay?: boolean;
}

function stock(symbol: string, s: StockSpec = {}): TickerSnapshot {
  const prevClose = s.prevClose ?? 10;
  const price = s.price ?? prevClose;
  const open = s.open ?? prevClose;
  return {
    symbol,
    price,
    prevClose,
    prevHigh: s.prevHigh ?? prevClose * 1.02,
    prevLow: s.prevLow ?? prevClose * 0.98,
    prevVolume: 1_000_000,
    day: s.noDay
      ? null
      : { open, high: s.high ?? Math.max(open, price), low: s.low ?? Math.min(open, price), close: price, volume: s.volume ?? NORMAL_AT_NOON, vwap: price },
    minute: s.minute
      ? { ...s.minute, high: Math.max(s.minute.open, s.minute.close), low: Math.min(s.minute.open, s.minute.close), vwap: s.minute.close, accumulatedVolume: 0, startMs: null }
      : null,
    volume: s.volume ?? NORMAL_AT_NOON,
    avgVolume: 1_000_000,
    marketCap: price * 50_000_000,
  };
}

function market(tickers: TickerSnapshot[], session: MarketSession = 'MARKET_OPEN', minuteOfDay = NOON): MarketSnapshot {
  return { source: 'simulated', takenAtMs: 0, session, minuteOfDay, tickers, rejected: 0 };
}

const symbols = (rows: { symbol: string }[]) => rows.map((r) => r.symbol);

describe('computeCategories', () => {
  it('gappers: opened at least 4% away from the close, biggest gap first', () => {
    const lists = computeCategories(
      market([
        stock('UP5', { open: 10.5, price: 10.2 }),
        stock('UP12', { open: 11.2, price: 11 }),
        stock('UP3', { open: 10.3 }),
        stock('DN6', { open: 9.4 }),
        stock('DN4', { open: 9.6 }),
      ]),
    );
    expect(symbols(lists.gappers_up)).toEqual(['UP12', 'UP5']);
    expect(symbols(lists.gappers_down)).toEqual(['DN6', 'DN4']);
    expect(lists.gappers_up[0]).toMatchObject({ symbol: 'UP12', rank: 1, gap_percent: 12, change_percent: 10 });
  });

  it('gappers before the open: the pre-market move so far is the gap', () => {
    const lists = computeCategories(
      market([stock('PRE', { price: 10.8, noDay: true, volume: 60_000 })], 'PRE_MARKET', 7 * 60),
    );
    expect(symbols(lists.gappers_up)).toEqual(['PRE']);
    expect(lists.gappers_up[0]!.day_high).toBeNull();
  });

  it('momentum: a fast minute counts only on relative volume', () => {
    const lists = computeCategories(
      market([
        stock('FAST', { volume: NORMAL_AT_NOON * 2, minute: { open: 10, close: 10.1, volume: 5_000 } }),
        stock('FASTER', { volume: NORMAL_AT_NOON * 3, minute: { open: 10, close: 10.2, volume: 5_000 } }),
        stock('QUIET', { volume: NORMAL_AT_NOON, minute: { open: 10, close: 10.2, volume: 5_000 } }),
        stock('SLOW', { volume: NORMAL_AT_NOON * 3, minute: { open: 10, close: 10.04, volume: 5_000 } }),
        stock('DROP', { volume: NORMAL_AT_NOON * 2, minute: { open: 10, close: 9.9, volume: 5_000 } }),
      ]),
    );
    expect(symbols(lists.momentum_up)).toEqual(['FASTER', 'FAST']);
    expect(symbols(lists.momentum_down)).toEqual(['DROP']);
    expect(lists.momentum_up[0]!.score).toBe(2);
  });

  it('winners and losers: the day move from yesterday\'s close', () => {
    const lists = computeCategories(
      market([stock('W8', { price: 10.8 }), stock('W3', { price: 10.3 }), stock('W2', { price: 10.2 }), stock('L5', { price: 9.5 })]),
    );
    expect(symbols(lists.winners)).toEqual(['W8', 'W3']);
    expect(symbols(lists.losers)).toEqual(['L5']);
    expect(lists.losers[0]).toMatchObject({ change_percent: -5 });
  });

  it('high volume: relative volume at least 2, most shares first', () => {
    const lists = computeCategories(
      market([
        stock('BIGX2', { volume: NORMAL_AT_NOON * 2.5 }),
        stock('X5', { volume: NORMAL_AT_NOON * 5, prevClose: 1 }),
        stock('NORMAL', { volume: NORMAL_AT_NOON * 1.5 }),
      ]),
    );
    // Both qualify; X5 traded more shares.
    expect(symbols(lists.high_volume)).toEqual(['X5', 'BIGX2']);
    expect(lists.high_volume[0]!.rvol).toBe(5);
  });

  it('new highs and lows: at the day\'s extreme, beyond yesterday\'s', () => {
    const lists = computeCategories(
      market([
        stock('HOD', { price: 10.6, high: 10.6, prevHigh: 10.3 }),
        stock('NEAR', { price: 10.59, high: 10.6, prevHigh: 10.3 }),
        stock('FADED', { price: 10.4, high: 10.6, prevHigh: 10.3 }),
        stock('INSIDE', { price: 10.2, high: 10.2, prevHigh: 10.3 }),
        stock('LOD', { price: 9.5, low: 9.5, prevLow: 9.8 }),
      ]),
    );
    expect(symbols(lists.new_highs)).toEqual(['HOD', 'NEAR']);
    expect(symbols(lists.new_lows)).toEqual(['LOD']);
  });

  it('anomalies: a minute far above normal and above the stock\'s own pace', () => {
    const lists = computeCategories(
      market([
        stock('BURST', { minute: { open: 10, close: 10, volume: NORMAL_MINUTE * 30 } }),
        stock('SMALL', { minute: { open: 10, close: 10, volume: NORMAL_MINUTE * 5 } }),
        // Busy all day (relative volume 10): 12× normal is its usual pace, no burst.
        stock('BUSY', { volume: NORMAL_AT_NOON * 10, minute: { open: 10, close: 10, volume: NORMAL_MINUTE * 12 } }),
      ]),
    );
    expect(symbols(lists.anomalies)).toEqual(['BURST']);
    expect(lists.anomalies[0]!.score).toBeCloseTo(30, 0);
  });

  it('reversals: a gap given back', () => {
    const lists = computeCategories(
      market([
        stock('FADE', { open: 11, price: 10.2 }), // gapped 10% up, gave back 80%
        stock('CROSS', { open: 9, price: 10.1 }), // gapped 10% down, now green
        stock('HOLD', { open: 11, price: 10.8 }),
        stock('SMALLGAP', { open: 10.2, price: 10 }),
      ]),
    );
    expect(symbols(lists.reversals)).toEqual(['CROSS', 'FADE']);
  });

  it('ignores cheap and illiquid stocks, and cuts every list to its limit', () => {
    const many = Array.from({ length: 30 }, (_, i) => stock(`W${String(i).padStart(2, '0')}`, { price: 11 + i / 100 }));
    const rules: CategoryRules = { ...DEFAULT_RULES, limits: { ...DEFAULT_RULES.limits, winners: 5 } };
    const lists = computeCategories(
      market([...many, stock('PENNY', { prevClose: 0.5, price: 0.9 }), stock('THIN', { price: 15, volume: 1_000 })]),
      rules,
    );
    expect(symbols(lists.winners)).toEqual(['W29', 'W28', 'W27', 'W26', 'W25']);
    expect(lists.winners.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5]);
  });

  it('breaks ties by symbol, so a scan is deterministic', () => {
    const lists = computeCategories(market([stock('BBB', { price: 11 }), stock('AAA', { price: 11 })]));
    expect(symbols(lists.winners)).toEqual(['AAA', 'BBB']);
  });

  it('a closed market keeps its day lists but has no minute moves', () => {
    const lists = computeCategories(
      market([stock('RUN', { price: 11, volume: 3_000_000, minute: { open: 10, close: 11, volume: 500_000 } })], 'CLOSED', 22 * 60),
    );
    expect(symbols(lists.winners)).toEqual(['RUN']);
    expect(lists.momentum_up).toEqual([]);
    expect(lists.anomalies).toEqual([]);
    expect(lists.winners[0]!.rvol).toBe(3); // against a whole day
  });

  it('rows carry the contract\'s fields', () => {
    const row = computeCategories(market([stock('AAPL', { price: 11 })])).winners[0]!;
    for (const f of ['symbol', 'rank', 'price', 'change_percent', 'volume', 'rvol', 'market_cap']) expect(row).toHaveProperty(f);
    expect(row.market_cap).toBe(550_000_000);
  });

  it('describes every rule in one line with its numbers', () => {
    const lines = describeRules();
    for (const c of CATEGORIES) {
      expect(lines[c]).toMatch(/top 20$/);
      expect(lines[c]).not.toContain('\n');
    }
    expect(lines.gappers_up).toContain('4%');
    expect(describeUniverse()).toBe('every list considers only stocks at $1 or more that have traded at least 20,000 shares today');
  });
});

describe('parseRuleOverrides (SCANNER_RULES)', () => {
  it('overrides rules and list sizes, and refuses what is not a rule', () => {
    const r = parseRuleOverrides({ gapPercent: 5, limit: 30, limits: { winners: 10 } });
    expect(r.gapPercent).toBe(5);
    expect(r.limits.gappers_up).toBe(30);
    expect(r.limits.winners).toBe(10);
    expect(r.minPrice).toBe(DEFAULT_RULES.minPrice);
    expect(() => parseRuleOverrides({ gapPercnt: 5 })).toThrow(/"gapPercnt" is not a rule/);
    expect(() => parseRuleOverrides({ gapPercent: -1 })).toThrow(/"gapPercent" must be/);
    expect(() => parseRuleOverrides({ limits: { nope: 3 } })).toThrow(/"limits.nope" is not a list/);
    expect(() => parseRuleOverrides({ limit: 0 })).toThrow(/whole number/);
    expect(() => parseRuleOverrides([1])).toThrow(/JSON object/);
  });
});
