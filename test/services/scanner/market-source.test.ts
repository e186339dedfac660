import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { createMarketSource } from '../../../src/services/scanner/market-source.js';
import { createSimulatedMarketSource } from '../../../src/services/scanner/simulated-market-source.js';

describe('market source choice', () => {
  it('the simulated market without a key, seeded by MARKET_SEED and sized by MARKET_SYMBOLS', async () => {
    const config = loadConfig({ MARKET_SEED: '5', MARKET_SYMBOLS: '120' });
    const a = createMarketSource(config);
    const b = createMarketSource(config);
    expect(a.name).toBe('simulated');
    const sa = await a.fetch(new AbortController().signal);
    expect(sa.tickers).toHaveLength(120);
    expect((await b.fetch(new AbortController().signal)).tickers).toEqual(sa.tickers);
  });

  it('Polygon\'s REST snapshot with a key', () => {
    expect(createMarketSource(loadConfig({ POLYGON_API_KEY: 'abcdef123456' })).name).toBe('polygon');
  });

  it('the simulated source honours cancellation', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await expect(createSimulatedMarketSource({ seed: 1, symbols: 60, now: () => 0 }).fetch(ctl.signal)).rejects.toThrow();
  });
});
