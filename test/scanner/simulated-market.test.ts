import { describe, expect, it } from 'vitest';
import { computeCategories } from '../../src/scanner/categories.js';
import { SimulatedMarket } from '../../src/scanner/simulated-market.js';
import { CATEGORIES, type Category } from '../../src/shared/redis-keys.js';
import { isValidSymbol } from '../../src/upstream/codec.js';

const NOW = Date.parse('2025-11-25T15:00:00Z');

describe('SimulatedMarket', () => {
  it('trades the asked number of distinct, valid symbols', () => {
    const m = new SimulatedMarket({ seed: 1, symbols: 2_000 });
    const syms = m.symbols;
    expect(syms).toHaveLength(2_000);
    expect(new Set(syms).size).toBe(2_000);
    expect(syms.every(isValidSymbol)).toBe(true);
  });

  it('is reproduced by its seed', () => {
    const a = new SimulatedMarket({ seed: 7, symbols: 300 });
    const b = new SimulatedMarket({ seed: 7, symbols: 300 });
    const c = new SimulatedMarket({ seed: 8, symbols: 300 });
    for (let i = 0; i < 5; i++) {
      const sa = a.next(NOW + i);
      const sb = b.next(NOW + i);
      expect(sb).toEqual(sa);
      expect(c.next(NOW + i).tickers).not.toEqual(sa.tickers);
    }
  });

  it('produces well-formed snapshots', () => {
    const snap = new SimulatedMarket({ seed: 3, symbols: 500 }).next(NOW);
    expect(snap.source).toBe('simulated');
    expect(snap.takenAtMs).toBe(NOW);
    for (const t of snap.tickers) {
      expect(t.price).toBeGreaterThan(0);
      expect(t.prevClose).toBeGreaterThan(0);
      expect(Number.isFinite(t.volume)).toBe(true);
      expect(t.marketCap).toBeGreaterThan(0);
      if (t.day) expect(t.day.high).toBeGreaterThanOrEqual(t.day.low);
    }
  });

  it('moves every list over a simulated day, through every trading session', () => {
    const m = new SimulatedMarket({ seed: 42, symbols: 3_000, startMinute: 4 * 60, minutesPerTick: 5 });
    const seen = new Map<Category, Set<string>>(CATEGORIES.map((c) => [c, new Set<string>()]));
    const sessions = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const snap = m.next(NOW + i * 10_000);
      sessions.add(snap.session);
      const lists = computeCategories(snap);
      for (const c of CATEGORIES) for (const r of lists[c]) seen.get(c)!.add(r.symbol);
    }
    expect([...sessions].sort()).toEqual(['MARKET_OPEN', 'POST_MARKET', 'PRE_MARKET']);
    // Every list filled, and with more symbols over the day than it holds at once: it moved.
    for (const c of CATEGORIES) expect(seen.get(c)!.size, c).toBeGreaterThan(20);
  });

  it('on the real clock, stands still while the market is closed', () => {
    const m = new SimulatedMarket({ seed: 5, symbols: 200, clock: 'clock' });
    const saturday = Date.parse('2025-11-29T17:00:00Z');
    const a = m.next(saturday);
    const b = m.next(saturday + 3_600_000);
    expect(a.session).toBe('CLOSED');
    expect(b.tickers.map((t) => t.price)).toEqual(a.tickers.map((t) => t.price));
    // Monday 10:00 New York: the regular session, with a day bar.
    const monday = m.next(Date.parse('2025-12-01T15:00:00Z'));
    expect(monday.session).toBe('MARKET_OPEN');
    expect(monday.tickers.filter((t) => t.day).length).toBeGreaterThan(150);
  });
});
