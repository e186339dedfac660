import { METHODS } from 'node:http';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHttpApi, HTTP_BODY_LIMIT } from '../../src/services/http-api.js';
import { isLoopback } from '../../src/shared/loopback.js';
import { capturedLogger, fakeView } from '../services/helpers/fake-polygon-ws-view.js';
import { jsonValue, nastyString } from './arbitraries.js';

// polygon-ws's HTTP API against arbitrary requests (fastify inject, no socket): any method,
// path, query string, headers and body. It answers every one with a 2xx or a 4xx (never a 5xx,
// never a crash), refusals are JSON, the mutating endpoint runs only for the token (or, without
// one, for loopback), and no answer or log line ever carries the admin token.

const TOKEN = 'Fuzz-Adm1n-T0ken-7c1d9e';
const ROUTES = ['/subscriptions', '/reconciler/metrics', '/reconciler/force', '/stats', '/health', '/metrics'];
const REMOTES = ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.1.2.3', '203.0.113.5', '2001:db8::7'];

const pathArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...ROUTES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '/',
      '/reconciler/force/',
      '//reconciler/force',
      '/reconciler/%66orce',
      '/RECONCILER/FORCE',
      '/reconciler/force%00',
      '/%',
      '/%zz',
      '/%c0%af',
      '/..%2f..%2fetc%2fpasswd',
      '/stats/../reconciler/force',
      '/metrics;x=1',
      `/${'a'.repeat(5_000)}`,
      '/\u00e9t\u00e9',
      '/*',
    ),
  },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...ROUTES, ''), nastyString).map(([r, s]) => `${r}/${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))}`) },
  // A request line always has a path; inject cannot send an empty one.
  { weight: 1, arbitrary: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)) },
);
const queryArb = fc.oneof(
  fc.constant(''),
  fc.dictionary(nastyString, nastyString, { maxKeys: 4 }).map((d) => `?${new URLSearchParams(d).toString()}`),
  fc.constantFrom('?', '?&&&', '?a=%', '?a=%zz&b', '?__proto__[x]=1', '?constructor.prototype.x=1', `?token=${'x'.repeat(3_000)}`, '?a=1&a=2&a=3'),
  fc.webQueryParameters().map((q) => `?${q}`),
);

const tokenChars = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
const headerValue = fc.stringMatching(/^[\x20-\x7e\t]{0,60}$/);
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'text/plain',
    'text/plain; charset=latin1',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'garbage',
    'garbage/garbage',
    '',
    ';;;',
    'application/json, text/plain',
  ),
  headerValue,
);
const authorization = fc.oneof(
  fc.constant(undefined),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constantFrom(`bearer ${TOKEN}`, TOKEN, `Bearer ${TOKEN} `, `Bearer  ${TOKEN}`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', 'Basic YWRtaW46YWRtaW4='),
  headerValue.map((v) => `Bearer ${v}`),
);
const headersArb = fc
  .tuple(fc.option(contentType, { nil: undefined }), authorization, fc.dictionary(tokenChars, headerValue, { maxKeys: 4 }))
  .map(([type, auth, extra]) => {
    const h: Record<string, string> = { ...extra };
    delete h['content-length'];
    delete h['transfer-encoding'];
    delete h.authorization;
    delete h['content-type'];
    if (type !== undefined) h['content-type'] = type;
    if (auth !== undefined) h.authorization = auth;
    return h;
  });
const bodyArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: jsonValue.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  { weight: 2, arbitrary: fc.integer({ min: HTTP_BODY_LIMIT - 2, max: HTTP_BODY_LIMIT * 3 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', `${'['.repeat(3_000)}${']'.repeat(3_000)}`, '{"a":1e999}', '\ufeff{}') },
);
const requestArb = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'POST', 'HEAD') }, { weight: 1, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT')) }),
  path: pathArb,
  query: queryArb,
  headers: headersArb,
  body: bodyArb,
  remote: fc.constantFrom(...REMOTES),
});
type Req = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;
/** Requests a real client would nearly send: a route with its own method, a plausible body. */
const nearlyRightArb: fc.Arbitrary<Req> = fc
  .record({
    path: fc.constantFrom(...ROUTES, '/reconciler/force', '/reconciler/force'),
    query: queryArb,
    auth: authorization,
    body: fc.oneof(
      fc.constant(undefined),
      jsonValue.map((v) => ({ type: 'application/json', payload: JSON.stringify(v) })),
      fc.integer({ min: HTTP_BODY_LIMIT - 2, max: HTTP_BODY_LIMIT * 3 }).map((n) => ({ type: 'text/plain', payload: 'x'.repeat(n) })),
    ),
    remote: fc.constantFrom(...REMOTES),
  })
  .map(({ path, query, auth, body, remote }) => {
    const headers: Record<string, string> = {};
    if (auth !== undefined) headers.authorization = auth;
    if (body) headers['content-type'] = body.type;
    return { method: path === '/reconciler/force' ? 'POST' : 'GET', path, query, headers, body: body?.payload, remote };
  });
const anyRequestArb = fc.oneof(requestArb, nearlyRightArb);

function injectOptions(r: Req): InjectOptions {
  return { method: r.method as InjectOptions['method'], url: `${r.path}${r.query}`, headers: r.headers, payload: r.body, remoteAddress: r.remote };
}

function checkAnswer(r: Req, res: { statusCode: number; body: string; headers: Record<string, unknown> }): void {
  const what = `${r.method} ${r.path.slice(0, 60)}${r.query.slice(0, 60)} → ${res.statusCode} ${res.body.slice(0, 120)}`;
  expect(res.statusCode, what).toBeGreaterThanOrEqual(200);
  expect(res.statusCode, what).toBeLessThan(500);
  expect(res.body, what).not.toContain(TOKEN);
  if (res.statusCode >= 400 && r.method !== 'HEAD') {
    expect(String(res.headers['content-type']), what).toMatch(/^application\/json/);
    const parsed = JSON.parse(res.body) as Record<string, unknown>;
    expect(Object.keys(parsed), what).toEqual(['error']);
    expect(typeof parsed.error, what).toBe('string');
  }
}

const apps: FastifyInstance[] = [];
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

describe('HTTP API under arbitrary requests', () => {
  it('with ADMIN_TOKEN: 2xx or 4xx only, JSON refusals, force only with the token, the token never in an answer or a line', async () => {
    const cap = capturedLogger([TOKEN]);
    const view = fakeView();
    const app = buildHttpApi({ view, log: cap.log, host: '127.0.0.1', port: 0, adminToken: TOKEN, rateLimit: { perSecond: 1e9, burst: 1e9 } });
    apps.push(app);
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        const forcedBefore = view.forced;
        const res = await app.inject(injectOptions(r));
        checkAnswer(r, res);
        if (view.forced > forcedBefore) expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      }),
      { numRuns: 800 },
    );
    // Still serving, and the log never carried the token (the scrub is not what kept it out: no line quotes a header).
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect(cap.lines.join('\n')).not.toContain(TOKEN);
    expect(cap.lines.join('\n')).not.toContain('[redacted]');
    expect(cap.records().filter((l) => l.event === 'http_handler_failed')).toEqual([]);
  });

  it('without ADMIN_TOKEN: force runs for loopback callers only', async () => {
    const cap = capturedLogger();
    const view = fakeView();
    const app = buildHttpApi({ view, log: cap.log, host: '127.0.0.1', port: 0, adminToken: '', rateLimit: { perSecond: 1e9, burst: 1e9 } });
    apps.push(app);
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        const forcedBefore = view.forced;
        const res = await app.inject(injectOptions(r));
        checkAnswer(r, res);
        if (view.forced > forcedBefore) expect(isLoopback(r.remote)).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(cap.records().filter((l) => l.event === 'http_handler_failed')).toEqual([]);
  });

  it('with the default rate limit and a stopped clock: no remote address gets more than the burst, every request is answered', async () => {
    const cap = capturedLogger([TOKEN]);
    const app = buildHttpApi({ view: fakeView(), log: cap.log, host: '127.0.0.1', port: 0, adminToken: TOKEN, now: () => 5_000 });
    apps.push(app);
    const passed = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        const res = await app.inject(injectOptions(r));
        checkAnswer(r, res);
        if (res.statusCode !== 429) passed.set(r.remote, (passed.get(r.remote) ?? 0) + 1);
      }),
      { numRuns: 600 },
    );
    for (const [remote, n] of passed) if (!isLoopback(remote)) expect(n, remote).toBeLessThanOrEqual(40);
    // One line per address and reason per minute at most: the clock stood still.
    const limited = cap.records().filter((l) => l.event === 'http_rate_limited');
    expect(new Set(limited.map((l) => l.ip)).size).toBe(limited.length);
  });
});
