import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/free-port.js';
import { registry } from '../../src/shared/metrics.js';
import { ACTIVE_TICKERS_KEY, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { eventually } from '../helpers/wait.js';
import { capturedLogger } from '../services/helpers/fake-polygon-ws-view.js';

// The real polygon-ws role with every secret set (a Polygon API key the simulator accepts, an
// ADMIN_TOKEN, a Redis password), driven through auth, subscriptions, 1008 closes, a kick,
// malformed frames, refused and accepted HTTP calls and a wrong Redis password; then every log
// line, every HTTP answer, the /metrics text and what the role wrote to Redis are searched for
// each secret. None may appear anywhere.

const API_KEY = 'PolyKey-5c1e7a9d3b-LeakCheck';
const ADMIN_TOKEN = 'AdminTok-8e2f4a6c0d-LeakCheck';
const REDIS_PASSWORD = 'RedisPw-3d7b1f9e5a-LeakCheck';
const WRONG_REDIS_PASSWORD = 'WrongRedisPw-6a4c2e8b0f-LeakCheck';
const WRONG_API_KEY = 'WrongPolyKey-9b7d5f3a1c-LeakCheck';
const SECRETS = [API_KEY, ADMIN_TOKEN, REDIS_PASSWORD, WRONG_REDIS_PASSWORD, WRONG_API_KEY];

/** A redis-server that wants a password; the password reaches it on stdin, not on its command line. */
async function startPasswordRedis(password: string): Promise<{ port: number; url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'livescan-secret-redis-'));
  const child: ChildProcess = spawn('redis-server', ['-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin?.end(
    [`port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no', `dir ${dir}`, `requirepass ${password}`].join('\n') + '\n',
  );
  const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    try {
      if (probe.status !== 'ready') await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      probe.disconnect();
      return false;
    }
  }, 'password redis up', 15_000, 50);
  probe.disconnect();
  return {
    port,
    url,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Everything a Redis holds, as text: the role may write status and streams there. */
async function dumpRedis(client: Redis): Promise<string> {
  const out: string[] = [];
  for (const key of await client.keys('*')) {
    out.push(key);
    const type = await client.type(key);
    if (type === 'string') out.push(String(await client.get(key)));
    else if (type === 'set') out.push(...(await client.smembers(key)));
    else if (type === 'hash') out.push(JSON.stringify(await client.hgetall(key)));
    else if (type === 'list') out.push(...(await client.lrange(key, 0, -1)));
    else if (type === 'zset') out.push(...(await client.zrange(key, '0', '-1')));
    else if (type === 'stream') out.push(JSON.stringify(await client.xrange(key, '-', '+')));
  }
  return out.join('\n');
}

function leaked(where: string, text: string): string[] {
  return SECRETS.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s))).map((s) => `${s} in ${where}`);
}

let redis: Awaited<ReturnType<typeof startPasswordRedis>>;
let client: Redis;
let sim: PolygonSimulator;

beforeAll(async () => {
  redis = await startPasswordRedis(REDIS_PASSWORD);
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  sim = await startPolygonSimulator({ apiKeys: [API_KEY], aggregateIntervalMs: 100 });
});
afterAll(async () => {
  await sim?.close();
  client?.disconnect();
  await redis?.stop();
});

describe('no secret leaks', () => {
  it('polygon-ws with every secret set: none in a log line, an HTTP answer, /metrics or Redis', async () => {
    // The logger as main.ts builds it: the configured secrets are scrubbed by value too.
    const cap = capturedLogger(SECRETS);
    const answers: string[] = [];
    await client.sadd(ACTIVE_TICKERS_KEY, 'AAPL', 'MSFT');
    const { role } = await startTestPolygonWs({
      redisUrl: redis.url,
      wsUrl: sim.url,
      apiKey: API_KEY,
      env: { ADMIN_TOKEN, REDIS_URL: redis.url },
      log: cap.log,
    });
    const http = async (method: string, p: string, headers: Record<string, string> = {}, body?: string) => {
      const res = await fetch(`${role.httpUrl.replace(/\/$/, '')}${p}`, { method, headers, body });
      const text = await res.text();
      // The answer only: the request carries secrets on purpose.
      const answerHeaders: string[] = [];
      res.headers.forEach((v, k) => answerHeaders.push(`${k}: ${v}`));
      answers.push(`${res.status} ${answerHeaders.join('; ')} ${text}`);
      return { status: res.status, text };
    };
    try {
      await eventually(() => sim.acknowledged().has('AAPL') && sim.acknowledged().has('MSFT'), 'subscribed after auth');

      // The event fast path.
      await client.sadd(ACTIVE_TICKERS_KEY, 'NVDA');
      await client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'NVDA', 'action', 'subscribe', 'source', 'scanner_auto');
      await client.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', '../etc/passwd', 'action', 'subscribe');
      await eventually(() => sim.acknowledged().has('NVDA'), 'NVDA subscribed');

      // Upstream faults: malformed frames, 1008 closes (each followed by a new auth), a kick.
      for (const kind of ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'] as const) sim.sendMalformed(kind);
      for (let i = 0; i < 2; i++) {
        const authsBefore = sim.stats().connectionsTotal;
        expect(sim.close1008()).toBe(1);
        await eventually(() => sim.stats().connectionsTotal > authsBefore && role.view.status().state === 'live', `live again after 1008 #${i + 1}`);
      }
      sim.kickWithMaxConnections();
      await eventually(() => role.view.status().state === 'live' && role.view.status().maxConnectionsKicks === 1, 'live again after the kick');

      // HTTP: refused calls of every kind, then every endpoint.
      expect((await http('POST', '/reconciler/force')).status).toBe(401);
      expect((await http('POST', '/reconciler/force', { authorization: 'Bearer wrong-token' })).status).toBe(401);
      expect((await http('POST', '/reconciler/force', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` })).status).toBe(401);
      expect((await http('POST', '/reconciler/force', { authorization: `Basic ${ADMIN_TOKEN}` })).status).toBe(401);
      expect((await http('POST', `/reconciler/force?token=${ADMIN_TOKEN}`)).status).toBe(401);
      expect((await http('POST', '/reconciler/force', { 'content-type': 'application/json' }, `{"token":"${ADMIN_TOKEN}"`)).status).toBe(400);
      expect((await http('POST', '/reconciler/force', { 'content-type': `application/${ADMIN_TOKEN}` }, 'x')).status).toBe(415);
      expect((await http('GET', `/${ADMIN_TOKEN}/%zz`)).status).toBe(400);
      expect((await http('GET', `/nothing?key=${API_KEY}`)).status).toBe(404);
      const forced = await http('POST', '/reconciler/force', { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(forced.status).toBe(200);
      for (const p of ['/subscriptions', '/reconciler/metrics', '/stats', '/health', '/metrics']) {
        expect((await http('GET', p)).status, p).toBe(200);
      }
      // The role wrote its status to Redis meanwhile.
      await eventually(async () => (await client.keys('*status*')).length > 0, 'service status written');

      const problems = [
        ...leaked('the log', cap.lines.join('\n')),
        ...leaked('an HTTP answer', answers.join('\n')),
        ...leaked('the metrics registry', await registry.metrics()),
        ...leaked('Redis', await dumpRedis(client)),
      ];
      expect(problems).toEqual([]);
      // The drive did reach the places a leak would come from.
      const events = new Set(cap.records().map((r) => r.event));
      for (const e of ['upstream_frame_rejected', 'subscription_event_rejected', 'policy_violation_detected', 'upstream_max_connections', 'http_forbidden', 'reconciliation_forced']) {
        expect(events, e).toContain(e);
      }
    } finally {
      await role.stop();
    }
  });

  it('failures that quote what they were given (a wrong Redis password, a refused API key) quote no secret', async () => {
    const cap = capturedLogger(SECRETS);
    const answers: string[] = [];
    // A refused API key: reaches the upstream (Redis is fine, so it leads) and is turned away.
    const refused = await startTestPolygonWs({ redisUrl: redis.url, wsUrl: sim.url, apiKey: WRONG_API_KEY, env: { ADMIN_TOKEN }, log: cap.log });
    // A wrong Redis password: no connection of that role becomes ready, so it says Redis is out of reach, and why.
    const wrongUrl = `redis://:${WRONG_REDIS_PASSWORD}@127.0.0.1:${redis.port}`;
    const locked = await startTestPolygonWs({ redisUrl: wrongUrl, wsUrl: sim.url, env: { ADMIN_TOKEN, REDIS_URL: wrongUrl }, log: cap.log });
    try {
      await eventually(() => refused.role.view.status().state === 'authFailed', 'upstream auth refused');
      // Whatever the line is called, it quotes Redis's error.
      await eventually(
        () => cap.records().some((r) => String(r.event).startsWith('redis_') && typeof r.error === 'string'),
        'redis refused the password',
      );
      await eventually(() => locked.role.view.status().state === 'redis_unreachable', 'the locked-out role saying Redis is out of reach');
      for (const role of [refused.role, locked.role]) {
        for (const p of ['/stats', '/health', '/subscriptions', '/reconciler/metrics', '/metrics']) {
          answers.push(await (await fetch(`${role.httpUrl.replace(/\/$/, '')}${p}`)).text());
        }
      }
      const problems = [...leaked('the log', cap.lines.join('\n')), ...leaked('an HTTP answer', answers.join('\n')), ...leaked('the metrics registry', await registry.metrics())];
      expect(problems).toEqual([]);
    } finally {
      await refused.role.stop();
      await locked.role.stop();
    }
  });
});
