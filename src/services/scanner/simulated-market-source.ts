import type { MarketSnapshot, MarketSource } from '../../scanner/market-snapshot.js';
import { SimulatedMarket, type SimulatedMarketOptions } from '../../scanner/simulated-market.js';

// The built-in market as a market source: what the scanner ranks when no POLYGON_API_KEY is set.

export interface SimulatedMarketSourceOptions extends SimulatedMarketOptions {
  now?: () => number;
}

export function createSimulatedMarketSource(opts: SimulatedMarketSourceOptions): MarketSource & { market: SimulatedMarket } {
  const market = new SimulatedMarket(opts);
  const now = opts.now ?? Date.now;
  return {
    name: 'simulated',
    market,
    async fetch(signal: AbortSignal): Promise<MarketSnapshot> {
      signal.throwIfAborted();
      return market.next(now());
    },
  };
}
