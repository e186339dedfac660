import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { startScanner } from '../../src/roles/scanner.js';
import { createLogger } from '../../src/shared/logger.js';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

// Scanner (simulated market) → Redis → polygon-ws → simulator: the upstream follows the
// scanner's SET as it changes from cycle to cycle, through the event fast path.

describe('scanner drives polygon-ws end to end', () => {
  let r: Awaited<ReturnType<typeof startTestRedis>>;
  let sim: PolygonSimulator;
  beforeAll(async () => {
    r = await startTestRedis();
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
  });
  afterAll(async () => {
    await sim.close();
    await r.stop();
  });

  it('the upstream holds exactly the SET after every scanner cycle', async () => {
    const log = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    // A slow reconciliation loop: convergence within a cycle must come from the events.
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, env: { RECONCILE_INTERVAL_MS: '600000' } });
    const scanner = await startScanner({
      config: loadConfig({ SCAN_INTERVAL_MS: '1000', MARKET_SYMBOLS: '600', MARKET_SEED: '11', LOG_LEVEL: 'silent' }),
      redisUrl: r.server.url,
      log,
    });
    try {
      const seen = new Set<string>();
      let matchedCycles = 0;
      let lastSet = '';
      await eventually(
        async () => {
          const set = (await r.client.smembers(ACTIVE_TICKERS_KEY)).sort();
          const key = set.join(',');
          if (set.length === 0 || key === lastSet) return false;
          // A new SET: the upstream must catch up with it before the next cycle.
          await eventually(async () => {
            const now = (await r.client.smembers(ACTIVE_TICKERS_KEY)).sort().join(',');
            return now !== key || [...sim.acknowledged()].sort().join(',') === key;
          }, 'the upstream to follow the SET', 5_000, 10);
          if ([...sim.acknowledged()].sort().join(',') === key) matchedCycles++;
          lastSet = key;
          set.forEach((s) => seen.add(s));
          return matchedCycles >= 4;
        },
        'four scanner cycles followed',
        60_000,
        50,
      );
      // The SET moved: more symbols were wanted over time than in any single SET.
      expect(seen.size).toBeGreaterThan(lastSet.split(',').length);
      expect(role.view.status().reconciler.total_drift_detected).toBe(0);
    } finally {
      await scanner.stop();
      await role.stop();
    }
  });
});
