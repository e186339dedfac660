import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';
import { startTestRedis } from '../helpers/redis.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { eventually } from '../helpers/wait.js';
import { INITIAL, runStorm } from './diagnosis-scenario.js';
import { startNaiveClient } from './naive-event-only-client.js';

// The regression of the diagnosis document (47 wanted tickers decaying to 36 under 1008 closes),
// against real Redis and the simulator. Ground truth: what the simulator itself acknowledged.

type TestRedis = Awaited<ReturnType<typeof startTestRedis>>;

async function sameAsSet(r: TestRedis, sim: PolygonSimulator): Promise<{ set: string[]; upstream: string[] }> {
  const set = (await r.client.smembers(ACTIVE_TICKERS_KEY)).sort();
  const upstream = [...sim.acknowledged()].sort();
  return { set, upstream };
}

describe('the diagnosis document, replayed', () => {
  let r: TestRedis;
  beforeAll(async () => {
    r = await startTestRedis();
  });
  afterAll(async () => {
    await r.stop();
  });

  it('polygon-ws ends holding exactly the SET after a 1008 storm, churn, races and silent SET changes', async () => {
    await r.client.flushall();
    await r.client.sadd(ACTIVE_TICKERS_KEY, ...INITIAL);
    const sim = await startPolygonSimulator({ aggregateIntervalMs: 200 });
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url });
    try {
      await eventually(() => role.view.status().state === 'live', 'polygon-ws live');
      const report = await runStorm({
        redis: r.client,
        sim,
        // The silent change must be healed by the reconciliation loop, not by a lucky reconnect.
        afterStorm: () => eventually(() => role.view.status().state === 'live', 'live after the storm').then(() => undefined),
      });
      const reconnectionsAtSilentChange = role.view.status().reconnections;
      expect(report.closes1008).toBeGreaterThanOrEqual(3);
      expect(report.leaveAndReturn).toBeGreaterThan(10);

      const final = await eventually(async () => {
        const s = await sameAsSet(r, sim);
        return s.set.length > 0 && JSON.stringify(s.set) === JSON.stringify(s.upstream) ? s : null;
      }, 'the upstream to hold exactly the SET', 45_000, 100);
      expect(final.upstream).toEqual(report.finalSet);
      expect(role.view.status().reconnections).toBe(reconnectionsAtSilentChange);
      expect(role.view.status().reconciler.total_drift_detected).toBeGreaterThan(0);

      // What the service reports agrees with the ground truth, and it says it is healthy.
      const subs = (await (await fetch(`${role.httpUrl}/subscriptions`)).json()) as { count: number; tickers: string[] };
      expect(subs.tickers).toEqual(report.finalSet);
      expect(subs.count).toBe(report.finalSet.length);
      await eventually(async () => (await fetch(`${role.httpUrl}/health`)).status === 200, '/health ready');
      const stats = (await (await fetch(`${role.httpUrl}/stats`)).json()) as { close_1008_count: number; reconnections: number };
      expect(stats.close_1008_count).toBeGreaterThanOrEqual(3);
      // Never two upstream connections at once: we never kicked ourselves.
      expect(sim.stats().maxConcurrentAuthenticated).toBe(1);
      expect(sim.stats().maxConnectionsKicks).toBe(0);
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('the same scenario catches the original event-only client (the test can fail)', async () => {
    await r.client.flushall();
    await r.client.sadd(ACTIVE_TICKERS_KEY, ...INITIAL);
    const sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    const naive = startNaiveClient({ url: sim.url, apiKey: 'sim-key', redis: r.client });
    try {
      await eventually(() => sim.acknowledged().size === INITIAL.length, 'naive client subscribed');
      const report = await runStorm({
        redis: r.client,
        sim,
        afterStorm: () => eventually(() => sim.stats().authenticatedNow === 1, 'naive client back').then(() => undefined),
      });
      // Give it every chance: as long as polygon-ws needed and more.
      await new Promise((res) => setTimeout(res, 6_000));
      const s = await sameAsSet(r, sim);
      expect(s.upstream).not.toEqual(report.finalSet);
      const missing = report.finalSet.filter((x) => !s.upstream.includes(x));
      expect(missing.length).toBeGreaterThan(0);
    } finally {
      await naive.stop();
      await sim.close();
    }
  });
});
