import { describe, expect, it } from 'vitest';
import type { MarketSnapshot, MarketSource, TickerSnapshot } from '../../src/scanner/market-snapshot.js';
import { tapMarketPrices } from '../../src/simulator/market-price-source.js';

const ticker = (symbol: string, price: number): TickerSnapshot => ({
  symbol,
  price,
  prevClose: price,
  prevHigh: null,
  prevLow: null,
  prevVolume: 1_000_000,
  day: null,
  minute: null,
  volume: 600_000,
  avgVolume: null,
  marketCap: null,
});

describe('tapMarketPrices', () => {
  it('prices follow the last snapshot the scanner fetched, within a small wobble', async () => {
    let price = 100;
    const source: MarketSource = {
      name: 'simulated',
      fetch: async (): Promise<MarketSnapshot> => ({ source: 'simulated', takenAtMs: 0, session: 'MARKET_OPEN', minuteOfDay: 600, tickers: [ticker('AAPL', price)], rejected: 0 }),
    };
    const { source: tapped, prices } = tapMarketPrices(source);
    expect(prices('AAPL', 0)).toBeUndefined();
    await tapped.fetch(new AbortController().signal);
    for (let i = 0; i < 100; i++) {
      const t = prices('AAPL', i * 1000);
      expect(t?.price).toBeGreaterThan(99.8);
      expect(t?.price).toBeLessThan(100.2);
      expect(t?.volume).toBeGreaterThan(0);
    }
    price = 50;
    await tapped.fetch(new AbortController().signal);
    expect(prices('AAPL', 0)?.price).toBeLessThan(50.2);
    expect(prices('MSFT', 0)).toBeUndefined();
  });
});
