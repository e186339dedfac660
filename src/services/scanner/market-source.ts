import type { Config } from '../../config/env.js';
import type { MarketSource } from '../../scanner/market-snapshot.js';
import { createPolygonSnapshotSource, POLYGON_SOURCE_DEFAULTS } from './polygon-snapshot-source.js';
import { createSimulatedMarketSource } from './simulated-market-source.js';

/** The real market when a key is configured, else the seeded simulated one. */
export function createMarketSource(config: Config): MarketSource {
  if (config.POLYGON_API_KEY) {
    return createPolygonSnapshotSource({
      apiKey: config.POLYGON_API_KEY,
      baseUrl: config.POLYGON_REST_URL,
      // A scan must not outlive its interval by much: the next one would only queue up behind it.
      timeoutMs: Math.min(POLYGON_SOURCE_DEFAULTS.timeoutMs * 2, Math.max(1_000, Math.round(config.SCAN_INTERVAL_MS * 0.8))),
    });
  }
  return createSimulatedMarketSource({ seed: config.MARKET_SEED, symbols: config.MARKET_SYMBOLS });
}
