import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApi, ForceRefused, HTTP_BODY_LIMIT, type HttpApiOptions } from '../../src/services/http-api.js';
import { registry } from '../../src/shared/metrics.js';
import { capturedLogger, fakeView, FORCE_RESULT, liveStatus } from './helpers/fake-polygon-ws-view.js';

// polygon-ws's HTTP API on its own (fastify inject, no socket): the contract's answers, the
// admin token, the body size limit, the per-address rate limit and what refusals cost (a
// counter, a bounded number of log lines, fixed answers that repeat nothing of the request).

const TOKEN = 'adm1n-T0ken-for-http-api-test';

async function rejected(reason: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'livescan_http_rejected_total');
  const values = (m?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

let apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});

function build(over: Partial<HttpApiOptions> = {}) {
  const cap = capturedLogger([TOKEN]);
  const view = fakeView();
  let now = 1_000_000;
  const app = buildHttpApi({ view, log: cap.log, host: '127.0.0.1', port: 0, adminToken: '', now: () => now, ...over });
  apps.push(app);
  return {
    app,
    view,
    cap,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('the contract endpoints', () => {
  it('answer from the view', async () => {
    const { app } = build();
    const subs = await app.inject({ method: 'GET', url: '/subscriptions' });
    expect(subs.statusCode).toBe(200);
    expect(subs.json()).toEqual({ count: 2, tickers: ['AAPL', 'MSFT'] });
    const metrics = (await app.inject({ method: 'GET', url: '/reconciler/metrics' })).json() as Record<string, unknown>;
    expect(metrics).toMatchObject({ reconciliations_count: 7, total_drift_detected: 1, total_corrections: 1, gap: 0 });
    const stats = (await app.inject({ method: 'GET', url: '/stats' })).json() as Record<string, unknown>;
    expect(stats).toMatchObject({ state: 'live', subscribed: 2, consumer_lag: 0, close_1008_count: 0 });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const prom = await app.inject({ method: 'GET', url: '/metrics' });
    expect(prom.statusCode).toBe(200);
    expect(prom.body).toContain('livescan_http_rejected_total');
  });

  it('/health is 503 until live with no gap', async () => {
    const { app } = build({ view: fakeView({ status: () => liveStatus({ state: 'syncing', gap: 3 }) }) });
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', state: 'syncing', gap: 3 });
  });
});

describe('POST /reconciler/force', () => {
  it('with ADMIN_TOKEN: only the right bearer token, from anywhere', async () => {
    const { app, view, cap } = build({ adminToken: TOKEN });
    const before = await rejected('unauthorized');
    for (const authorization of [undefined, 'Bearer nope', `bearer ${TOKEN}`, TOKEN, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`]) {
      const res = await app.inject({ method: 'POST', url: '/reconciler/force', headers: authorization ? { authorization } : {} });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.json()).toEqual({ error: 'missing or wrong bearer token' });
    }
    expect(view.forced).toBe(0);
    expect(await rejected('unauthorized')).toBe(before + 6);
    const ok = await app.inject({ method: 'POST', url: '/reconciler/force', remoteAddress: '203.0.113.9', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(FORCE_RESULT);
    expect(view.forced).toBe(1);
    // One line for six refusals from one address within a minute.
    expect(cap.records().filter((r) => r.event === 'http_forbidden')).toHaveLength(1);
    expect(cap.lines.join('\n')).not.toContain(TOKEN);
  });

  it('without ADMIN_TOKEN: loopback only', async () => {
    const { app, view } = build();
    const before = await rejected('forbidden');
    const far = await app.inject({ method: 'POST', url: '/reconciler/force', remoteAddress: '198.51.100.7' });
    expect(far.statusCode).toBe(403);
    expect(far.json()).toEqual({ error: 'allowed from loopback only' });
    expect(await rejected('forbidden')).toBe(before + 1);
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect((await app.inject({ method: 'POST', url: '/reconciler/force', remoteAddress })).statusCode).toBe(200);
    }
    expect(view.forced).toBe(3);
  });

  it('a reconciliation that does not complete is a 503, not a crash', async () => {
    const cap = capturedLogger();
    const view = fakeView({ force: () => Promise.reject(new Error('reconciliation did not complete within 15 s')) });
    const { app } = build({ view, log: cap.log });
    const res = await app.inject({ method: 'POST', url: '/reconciler/force' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'reconciliation did not complete' });
    expect(cap.records().map((r) => r.event)).toContain('reconciliation_force_failed');
  });
});

describe('request size', () => {
  it(`a body up to ${HTTP_BODY_LIMIT} bytes is read; one byte more is a 413, counted, before the handler runs`, async () => {
    const { app, view } = build();
    const fits = await app.inject({ method: 'POST', url: '/reconciler/force', headers: { 'content-type': 'text/plain' }, payload: 'x'.repeat(HTTP_BODY_LIMIT) });
    expect(fits.statusCode).toBe(200);
    expect(view.forced).toBe(1);
    const before = await rejected('body_too_large');
    for (const [type, payload] of [
      ['text/plain', 'x'.repeat(HTTP_BODY_LIMIT + 1)],
      ['application/json', JSON.stringify({ pad: 'y'.repeat(HTTP_BODY_LIMIT) })],
      ['application/json', `[${'1,'.repeat(HTTP_BODY_LIMIT)}1]`],
    ] as const) {
      const res = await app.inject({ method: 'POST', url: '/reconciler/force', headers: { 'content-type': type }, payload });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({ error: `request body larger than ${HTTP_BODY_LIMIT} bytes` });
    }
    expect(view.forced).toBe(1);
    expect(await rejected('body_too_large')).toBe(before + 3);
  });

  it('a content type with no parser is a 415, a broken JSON body a 400; neither repeats the request', async () => {
    const { app } = build();
    const marker = 'Echo-Me-If-You-Dare-42';
    const badType = await app.inject({ method: 'POST', url: '/reconciler/force', headers: { 'content-type': `application/${marker}` }, payload: 'x' });
    expect(badType.statusCode).toBe(415);
    const badJson = await app.inject({ method: 'POST', url: '/reconciler/force', headers: { 'content-type': 'application/json' }, payload: `{"${marker}` });
    expect(badJson.statusCode).toBe(400);
    const proto = await app.inject({ method: 'POST', url: '/reconciler/force', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' });
    expect(proto.statusCode).toBe(400);
    const notFound = await app.inject({ method: 'GET', url: `/${marker}?q=${marker}` });
    expect(notFound.statusCode).toBe(404);
    const badUrl = await app.inject({ method: 'GET', url: `/${marker}%zz` });
    expect(badUrl.statusCode).toBe(400);
    for (const r of [badType, badJson, proto, notFound, badUrl]) {
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(r.json() as object)).toEqual(['error']);
      expect(r.body).not.toContain(marker);
    }
  });

  it('a handler that throws is a 500 with a fixed answer, logged at most once a minute per caller', async () => {
    const cap = capturedLogger([TOKEN]);
    const view = fakeView({
      status: () => {
        throw new Error(`view exploded near ${TOKEN}`);
      },
    });
    const { app } = build({ view, log: cap.log });
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'GET', url: '/stats' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'internal error' });
    }
    // Three failures within a minute from one caller: one line.
    expect(cap.records().map((r) => r.event)).toEqual(['http_handler_failed']);
    expect(cap.lines[0]).toContain('view exploded near');
    expect(cap.lines[0]).not.toContain(TOKEN);
  });
});

describe('rate limit per client address', () => {
  it('defaults: a burst of 40, then 20 per second; 429 with a JSON error and Retry-After', async () => {
    const { app, advance } = build();
    const from = (remoteAddress: string) => app.inject({ method: 'GET', url: '/subscriptions', remoteAddress });
    for (let i = 0; i < 40; i++) expect((await from('192.0.2.1')).statusCode).toBe(200);
    const over = await from('192.0.2.1');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toEqual({ error: 'too many requests' });
    expect(over.headers['retry-after']).toBe('1');
    // Another address has its own bucket.
    expect((await from('192.0.2.2')).statusCode).toBe(200);
    // 20 per second: 50 ms buys one request.
    advance(50);
    expect((await from('192.0.2.1')).statusCode).toBe(200);
    expect((await from('192.0.2.1')).statusCode).toBe(429);
    advance(1_000);
    const statuses = [];
    for (let i = 0; i < 25; i++) statuses.push((await from('192.0.2.1')).statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
  });

  it('does not apply to loopback callers (this machine: health checks, scrapers, tests)', async () => {
    const { app } = build({ rateLimit: { perSecond: 1, burst: 1 } });
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.1.2.3']) {
      for (let i = 0; i < 60; i++) expect((await app.inject({ method: 'GET', url: '/stats', remoteAddress })).statusCode).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/stats', remoteAddress: '192.0.2.30' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/stats', remoteAddress: '192.0.2.30' })).statusCode).toBe(429);
  });

  it('applies to every path, unknown ones and refused ones included, before the body is read', async () => {
    const { app, view } = build({ rateLimit: { perSecond: 1, burst: 3 } });
    const remoteAddress = '192.0.2.10';
    expect((await app.inject({ method: 'GET', url: '/nope', remoteAddress })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/%zz', remoteAddress })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/metrics', remoteAddress })).statusCode).toBe(200);
    const big = await app.inject({
      method: 'POST',
      url: '/reconciler/force',
      remoteAddress,
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(HTTP_BODY_LIMIT * 4),
    });
    expect(big.statusCode).toBe(429);
    expect((await app.inject({ method: 'GET', url: '/%zz', remoteAddress })).statusCode).toBe(429);
    expect((await app.inject({ method: 'POST', url: '/reconciler/force', remoteAddress })).statusCode).toBe(429);
    expect(view.forced).toBe(0);
  });

  it('is counted per refusal and logged at most once per address per minute, with what was held back', async () => {
    const { app, cap, advance } = build({ rateLimit: { perSecond: 1, burst: 1 } });
    const before = await rejected('rate_limit');
    const hit = (remoteAddress: string) => app.inject({ method: 'GET', url: '/stats', remoteAddress });
    for (let i = 0; i < 11; i++) await hit('192.0.2.20');
    for (let i = 0; i < 3; i++) await hit('192.0.2.21');
    expect(await rejected('rate_limit')).toBe(before + 10 + 2);
    const lines = () => cap.records().filter((r) => r.event === 'http_rate_limited');
    expect(lines().map((l) => [l.ip, l.suppressed])).toEqual([
      ['192.0.2.20', 0],
      ['192.0.2.21', 0],
    ]);
    advance(59_000);
    await hit('192.0.2.20'); // refilled: allowed
    await hit('192.0.2.20'); // refused, within the minute: silent
    expect(lines()).toHaveLength(2);
    advance(1_000);
    await hit('192.0.2.20');
    await hit('192.0.2.20');
    expect(lines()).toHaveLength(3);
    expect(lines()[2]).toMatchObject({ ip: '192.0.2.20', suppressed: 10, status: 429, reason: 'rate_limit', path: '/stats' });
  });

  it('a flood from many addresses costs bounded log lines and answers every request', async () => {
    const { app, cap } = build({ rateLimit: { perSecond: 1, burst: 1 } });
    const answers = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const res = await app.inject({ method: 'GET', url: '/subscriptions', remoteAddress: `2001:db8::${(i % 100).toString(16)}` });
      answers.set(res.statusCode, (answers.get(res.statusCode) ?? 0) + 1);
    }
    expect(answers.get(200)).toBe(100);
    expect(answers.get(429)).toBe(200);
    expect(cap.records().filter((r) => r.event === 'http_rate_limited')).toHaveLength(100);
  });
});

describe('a wrong method on a known path', () => {
  it('is a 405 naming the allowed methods; an unknown path stays a 404', async () => {
    const { app, view } = build();
    const before = await rejected('method_not_allowed');
    const cases: [string, string, string][] = [
      ['GET', '/reconciler/force', 'POST'],
      ['PUT', '/reconciler/force?x=1', 'POST'],
      ['POST', '/stats', 'GET, HEAD'],
      ['DELETE', '/subscriptions', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
      ['PATCH', '/health', 'GET, HEAD'],
      ['OPTIONS', '/reconciler/metrics', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await app.inject({ method: method as 'GET', url });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
      expect(res.json()).toEqual({ error: 'method not allowed' });
    }
    expect(await rejected('method_not_allowed')).toBe(before + cases.length);
    expect(view.forced).toBe(0);
    // HEAD of a GET route is served; a path that is not a route is not found, with no Allow.
    expect((await app.inject({ method: 'HEAD', url: '/stats' })).statusCode).toBe(200);
    const unknown = await app.inject({ method: 'POST', url: '/reconciler' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers.allow).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: '/stats/' })).statusCode).toBe(404);
  });
});

describe('POST /reconciler/force without an upstream connection', () => {
  it('says so with a 409 naming the connection state, not "ok, drift 0"', async () => {
    const view = fakeView({
      status: () => liveStatus({ state: 'backoff', acknowledged: 0, gap: null }),
      force: () => Promise.resolve({ ...FORCE_RESULT, connected: false, acknowledged: 0 }),
    });
    const { app, cap } = build({ view });
    const before = await rejected('not_connected');
    const res = await app.inject({ method: 'POST', url: '/reconciler/force' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ error: 'not connected to the upstream (state: backoff): nothing to reconcile against' });
    expect(view.forced).toBe(1);
    expect(await rejected('not_connected')).toBe(before + 1);
    expect(cap.records().find((r) => r.event === 'reconciliation_forced')).toMatchObject({ connected: false });
  });

  it('on a standby: a 409 saying another instance leads, and no failure logged', async () => {
    const view = fakeView({
      status: () => liveStatus({ state: 'standby' }),
      force: () => Promise.reject(new ForceRefused('standby: this instance is not the leader')),
    });
    const { app, cap } = build({ view });
    const res = await app.inject({ method: 'POST', url: '/reconciler/force' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'standby: this instance is not the leader' });
    expect(cap.records().map((r) => r.event)).not.toContain('reconciliation_force_failed');
  });

  it('connected: the result itself, as before', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'POST', url: '/reconciler/force' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(FORCE_RESULT);
  });
});
