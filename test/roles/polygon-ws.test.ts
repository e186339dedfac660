import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.js';
import { registry } from '../../src/shared/metrics.js';
import { ACTIVE_TICKERS_KEY, AGGREGATES_STREAM, SUBSCRIPTIONS_GROUP, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { useTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

// The polygon-ws role on a real redis-server against the simulator: bad input of every kind,
// the upstream's hostile statuses, the HTTP API, crash recovery of the consumer group, secrets.

const redis = useTestRedis();
let sim: PolygonSimulator;

function captureLog() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, events: () => lines.map((l) => (JSON.parse(l) as { event?: string }).event), dest };
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (m?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + v.value, 0);
}

// `r` reads as the test Redis of the current test.
const r = {
  get client() {
    return redis.current.client;
  },
  get server() {
    return redis.current.server;
  },
};

describe('polygon-ws role', () => {
  it('survives malformed upstream frames and bad stream entries: logged, counted, acknowledged, nothing lost', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 100 });
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL', 'MSFT');
    const cap = captureLog();
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, log: createLogger({ level: 'info', destination: cap.dest }) });
    try {
      await eventually(() => role.view.status().state === 'live', 'live');
      const rejectedBefore = await metric('livescan_upstream_frames_rejected_total');
      for (const kind of ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'] as const) sim.sendMalformed(kind);
      await eventually(async () => (await metric('livescan_upstream_frames_rejected_total')) >= rejectedBefore + 4, 'rejections counted');

      // Entries with missing fields, unknown actions and invalid symbols, among good ones.
      await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'action', 'subscribe');
      await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'NVDA');
      await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'NVDA', 'action', 'explode');
      await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', '../etc/passwd', 'action', 'subscribe');
      await r.client.sadd(ACTIVE_TICKERS_KEY, 'NVDA');
      await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'NVDA', 'action', 'subscribe', 'source', 'scanner_auto', 'session', 'PRE_MARKET', 'timestamp', new Date().toISOString());
      await eventually(() => sim.acknowledged().has('NVDA'), 'NVDA subscribed through the fast path');
      await eventually(async () => {
        const pending = (await r.client.xpending(SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP)) as [number, ...unknown[]];
        return pending[0] === 0;
      }, 'every entry acknowledged');
      for (const reason of ['missing_symbol', 'missing_action', 'unknown_action', 'invalid_symbol']) {
        expect(await metric('livescan_subscription_events_rejected_total', { reason }), reason).toBeGreaterThanOrEqual(1);
      }
      expect(cap.events()).toContain('upstream_frame_rejected');
      expect(cap.events()).toContain('subscription_event_rejected');
      // Aggregates keep flowing to Redis for wanted symbols only.
      await eventually(async () => (await r.client.xlen(AGGREGATES_STREAM)) > 5, 'aggregates published');
      const entries = await r.client.xrange(AGGREGATES_STREAM, '-', '+', 'COUNT', 50);
      for (const [, fields] of entries) {
        const agg = JSON.parse(fields[1] as string) as { ev: string; sym: string };
        expect(agg.ev).toBe('A');
        expect(['AAPL', 'MSFT', 'NVDA']).toContain(agg.sym);
      }
      expect([...sim.acknowledged()].sort()).toEqual(['AAPL', 'MSFT', 'NVDA']);
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('a max_connections kick is its own state: loud, and no reconnect storm', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL');
    const cap = captureLog();
    const { role } = await startTestPolygonWs({
      redisUrl: r.server.url,
      wsUrl: sim.url,
      log: createLogger({ level: 'info', destination: cap.dest }),
    });
    try {
      await eventually(() => role.view.status().state === 'live', 'live');
      const connectionsBefore = sim.stats().connectionsTotal;
      sim.kickWithMaxConnections();
      await eventually(() => role.view.status().state === 'kicked', 'kicked');
      expect(cap.events()).toContain('upstream_max_connections');
      // The test role's kick penalty is 1 s: within half of it, no new connection.
      await new Promise((res) => setTimeout(res, 400));
      expect(sim.stats().connectionsTotal).toBe(connectionsBefore);
      await eventually(() => role.view.status().state === 'live', 'live again after the penalty');
      expect(role.view.status().maxConnectionsKicks).toBe(1);
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('auth_failed is terminal, reported, and the key never reaches a log line', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0, apiKeys: ['the-right-key'] });
    const cap = captureLog();
    const secret = 'wrong-key-0123456789abcdef';
    const { role } = await startTestPolygonWs({
      redisUrl: r.server.url,
      wsUrl: sim.url,
      apiKey: secret,
      log: createLogger({ level: 'trace', destination: cap.dest, secrets: [secret] }),
    });
    try {
      await eventually(() => role.view.status().state === 'authFailed', 'authFailed');
      await new Promise((res) => setTimeout(res, 500));
      expect(sim.stats().connectionsTotal).toBe(1);
      expect(cap.events()).toContain('upstream_auth_failed');
      const health = await fetch(`${role.httpUrl}/health`);
      expect(health.status).toBe(503);
      const stats = await (await fetch(`${role.httpUrl}/stats`)).text();
      expect(stats).toContain('auth_failed');
      expect(stats).not.toContain(secret);
      expect(cap.lines.join('\n')).not.toContain(secret);
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('HTTP API: subscriptions are what was acknowledged, force reconciles, metrics and stats answer', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL', 'MSFT');
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, env: { RECONCILE_INTERVAL_MS: '600000' } });
    try {
      await eventually(async () => (await fetch(`${role.httpUrl}/health`)).status === 200, 'ready');
      // Slow acks: what was asked is not yet what is subscribed.
      sim.setAckDelay(1_500);
      await r.client.sadd(ACTIVE_TICKERS_KEY, 'IBM'); // no event: only a reconciliation finds it
      const forced = (await (await fetch(`${role.httpUrl}/reconciler/force`, { method: 'POST' })).json()) as {
        status: string;
        drift: number;
        missing: string[];
      };
      expect(forced.status).toBe('ok');
      expect(forced.missing).toEqual(['IBM']);
      const before = (await (await fetch(`${role.httpUrl}/subscriptions`)).json()) as { count: number; tickers: string[] };
      expect(before.tickers).toEqual(['AAPL', 'MSFT']);
      await eventually(async () => {
        const s = (await (await fetch(`${role.httpUrl}/subscriptions`)).json()) as { tickers: string[] };
        return s.tickers.includes('IBM');
      }, 'IBM acknowledged');
      const metrics = (await (await fetch(`${role.httpUrl}/reconciler/metrics`)).json()) as Record<string, unknown>;
      expect(metrics.reconciliations_count).toEqual(expect.any(Number));
      expect(metrics.total_drift_detected).toBe(1);
      expect(metrics.total_corrections).toBe(1);
      expect(typeof metrics.last_reconciliation).toBe('string');
      const stats = (await (await fetch(`${role.httpUrl}/stats`)).json()) as Record<string, unknown>;
      expect(stats).toMatchObject({ state: 'live', reconnections: 0, close_1008_count: 0, consumer_lag: 0 });
      const prom = await (await fetch(`${role.httpUrl}/metrics`)).text();
      for (const name of ['livescan_acked_subscriptions', 'livescan_subscription_gap', 'livescan_upstream_1008_total', 'livescan_consumer_group_lag']) {
        expect(prom).toContain(name);
      }
      // Mutating endpoints need the token when one is configured.
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('POST /reconciler/force needs the bearer token when ADMIN_TOKEN is set', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, env: { ADMIN_TOKEN: 'admin-secret-token' } });
    try {
      await eventually(() => role.view.status().state !== 'standby', 'elected leader');
      expect((await fetch(`${role.httpUrl}/reconciler/force`, { method: 'POST' })).status).toBe(401);
      const wrong = await fetch(`${role.httpUrl}/reconciler/force`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain('admin-secret-token');
      const ok = await fetch(`${role.httpUrl}/reconciler/force`, { method: 'POST', headers: { authorization: 'Bearer admin-secret-token' } });
      expect(ok.status).toBe(200);
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('after a crash, entries delivered but never acknowledged are handled on restart', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL');
    const consumer = 'crashy-consumer';
    // A previous run of this consumer read two entries and died before acknowledging them.
    await r.client.xgroup('CREATE', SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, '$', 'MKSTREAM');
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'TSLA', 'NIO');
    await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'TSLA', 'action', 'subscribe');
    await r.client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'NIO', 'action', 'subscribe');
    await r.client.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, consumer, 'COUNT', 10, 'STREAMS', SUBSCRIPTIONS_STREAM, '>');
    const cap = captureLog();
    const { role } = await startTestPolygonWs({
      redisUrl: r.server.url,
      wsUrl: sim.url,
      env: { POLYGON_WS_CONSUMER: consumer },
      log: createLogger({ level: 'info', destination: cap.dest }),
    });
    try {
      await eventually(async () => {
        const pending = (await r.client.xpending(SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP)) as [number, ...unknown[]];
        return pending[0] === 0;
      }, 'the crashed run’s entries acknowledged');
      // Read again from this consumer's own pending list, not merely healed by the resync.
      const recovered = cap.lines.map((l) => JSON.parse(l) as { event?: string; count?: number }).find((l) => l.event === 'subscription_events_recovered');
      expect(recovered?.count).toBe(2);
      await eventually(() => ['AAPL', 'NIO', 'TSLA'].every((s) => sim.acknowledged().has(s)), 'all subscribed');
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('a missing SET at start subscribes nothing from nowhere and converges once the scanner writes it', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    const cap = captureLog();
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, log: createLogger({ level: 'info', destination: cap.dest }).child({ role: 'polygon-ws' }) });
    try {
      await eventually(() => role.view.status().state === 'syncing', 'syncing, waiting for the SET');
      await new Promise((res) => setTimeout(res, 300));
      expect(sim.acknowledged().size).toBe(0);
      expect((await fetch(`${role.httpUrl}/health`)).status).toBe(503);
      await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL', 'AMD');
      await eventually(() => role.view.status().state === 'live', 'live');
      expect([...sim.acknowledged()].sort()).toEqual(['AAPL', 'AMD']);
      // Read again and again while missing, logged once; and a line when it is back.
      const reads = role.view.status().reconciler.set_missing_reads;
      expect(reads).toBeGreaterThan(1);
      expect(cap.events().filter((e) => e === 'active_set_missing')).toHaveLength(1);
      const recovered = cap.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'active_set_recovered');
      expect(recovered).toMatchObject({ missing_reads: reads });
    } finally {
      await role.stop();
      await sim.close();
    }
  });

  it('POST /reconciler/force while the upstream is unreachable says so (409 with the state), then works again once live', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    await r.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL');
    const { role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url });
    const force = () => fetch(`${role.httpUrl}/reconciler/force`, { method: 'POST' });
    try {
      await eventually(() => role.view.status().state === 'live', 'live');
      expect((await force()).status).toBe(200);
      await sim.close();
      await eventually(() => !['live', 'syncing'].includes(role.view.status().state), 'disconnected');
      const res = await force();
      expect(res.status).toBe(409);
      const body = (await res.json()) as { error: string };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toMatch(/^not connected to the upstream \(state: (backoff|connecting|authenticating)\): nothing to reconcile against$/);
      expect((await fetch(`${role.httpUrl}/reconciler/force`)).status).toBe(405);
    } finally {
      await role.stop();
    }
  });
});
