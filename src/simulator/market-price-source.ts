import type { MarketSnapshot, MarketSource } from '../scanner/market-snapshot.js';
import { mulberry32 } from '../shared/prng.js';
import type { PriceSource } from './aggregate-source.js';

// When the scanner and the simulator share a process (the demo), the simulator's per-second
// prices follow the market the scanner ranks, so the dashboard's live prices agree with its
// lists: each second trades around the symbol's last scanned price, with a small seeded wobble.

export function tapMarketPrices(source: MarketSource, seed = 1): { source: MarketSource; prices: PriceSource } {
  const last = new Map<string, { price: number; perSecondVolume: number }>();
  const rnd = mulberry32(seed);
  const tapped: MarketSource = {
    name: source.name,
    async fetch(signal: AbortSignal): Promise<MarketSnapshot> {
      const snap = await source.fetch(signal);
      for (const t of snap.tickers) {
        last.set(t.symbol, { price: t.price, perSecondVolume: Math.max(1, (t.minute?.volume ?? t.volume / 960) / 60) });
      }
      return snap;
    },
  };
  const prices: PriceSource = (symbol) => {
    const l = last.get(symbol);
    if (!l) return undefined;
    const price = Math.round(l.price * (1 + (rnd() - 0.5) * 0.002) * 10_000) / 10_000;
    return { price, volume: Math.max(1, Math.round(l.perSecondVolume * (0.5 + rnd()))) };
  };
  return { source: tapped, prices };
}
