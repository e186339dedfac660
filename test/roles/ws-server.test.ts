import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { serviceStatusKey } from '../../src/shared/redis-keys.js';
import { startWsServer, type WsServerHandle } from '../../src/roles/ws-server.js';
import { freePort } from '../../src/shared/free-port.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from '../ws-server/helpers/fake-scanner.js';
import { captureLog } from '../ws-server/helpers/log.js';

describe('ws-server role', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let ws: WsServerHandle;
  beforeAll(async () => {
    redis = await startTestRedis();
    await new FakeScanner(redis.client, { seed: 9 }).scan();
    ws = await startWsServer({
      config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
      redisUrl: redis.server.url,
      log: captureLog('warn').log,
      statusIntervalMs: 200,
      blockMs: 500,
    });
  });
  afterAll(async () => {
    await ws.stop();
    await redis.stop();
  });

  it('serves the dashboard files', async () => {
    const page = await fetch(`${ws.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script src="/app.js"');
    expect((await fetch(`${ws.url}/app.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${ws.url}/style.css`)).headers.get('content-type')).toContain('text/css');
  });

  it('reports health, metrics and every service status', async () => {
    const health = await eventually(async () => {
      const res = await fetch(`${ws.url}/health`);
      return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
    }, 'healthy');
    expect(health).toMatchObject({ status: 'ok', role: 'ws-server', state: 'live', clients: 0, lists_in_sequence: 11 });
    expect(health.streams).toHaveProperty(['stream:ranking:deltas', 'last_id']);

    const metrics = await (await fetch(`${ws.url}/metrics`)).text();
    for (const name of ['livescan_ws_server_clients', 'livescan_ws_server_messages_out_total', 'livescan_ws_server_stream_lag_seconds']) {
      expect(metrics).toContain(name);
    }

    const pw = { role: 'polygon-ws', state: 'live', gap: 0, desired: 40, acknowledged: 40, last_reconciliation: null, reconnections: 0, updated_at: new Date().toISOString() };
    await redis.client.set(serviceStatusKey('polygon-ws'), JSON.stringify(pw));
    await redis.client.set(serviceStatusKey('scanner'), '{broken');
    const status = (await (await fetch(`${ws.url}/status`)).json()) as { redis: string; services: Record<string, unknown> };
    expect(status.redis).toBe('up');
    expect(status.services['polygon-ws']).toEqual(pw);
    expect(status.services.scanner).toEqual({ error: 'invalid_json' });
    expect(status.services['ws-server']).toMatchObject({ role: 'ws-server', state: 'live' });
    // And the ws-server's own status is in Redis for the others to read.
    const own = await eventually(() => redis.client.get(serviceStatusKey('ws-server')), 'own status written');
    expect(JSON.parse(own)).toMatchObject({ role: 'ws-server' });
    expect(await redis.client.ttl(serviceStatusKey('ws-server'))).toBeGreaterThan(0);
  });

  it('answers other paths and methods plainly', async () => {
    expect((await fetch(`${ws.url}/nope`)).status).toBe(404);
    expect((await fetch(`${ws.url}/health`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${ws.url}/ws`)).status).toBe(426);
  });

  it('never writes subscription events', async () => {
    expect(await redis.client.exists('polygon_ws:subscriptions')).toBe(0);
  });
});

describe('ws-server role without Redis', () => {
  it('says in /health that Redis is out of reach, and where, not only "degraded"', async () => {
    const port = await freePort();
    const ws = await startWsServer({
      config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
      redisUrl: `redis://:not-a-secret-to-show@127.0.0.1:${port}`,
      log: captureLog('fatal').log,
      statusIntervalMs: 200,
      blockMs: 500,
    });
    try {
      const body = await eventually(async () => {
        const res = await fetch(`${ws.url}/health`);
        const b = (await res.json()) as { status: string; redis_where?: string };
        return res.status === 503 && b.status === 'redis_unreachable' ? b : null;
      }, 'health saying Redis is unreachable');
      expect(body.redis_where).toBe(`127.0.0.1:${port}`);
      expect(JSON.stringify(body)).not.toContain('not-a-secret-to-show');
    } finally {
      await ws.stop();
    }
  });
});
