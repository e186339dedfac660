import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config/env.js';
import { CATEGORIES } from '../../src/shared/redis-keys.js';
import { startWsServer, type WsServerHandle } from '../../src/roles/ws-server.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { ListClient } from './helpers/list-client.js';
import { captureLog } from './helpers/log.js';

// Hostile and broken clients against a live server while the scanner keeps publishing: the
// server must answer or close them, never crash, and a well-behaved client beside them must
// keep receiving exactly the scanner's lists.

const KNOWN_TYPES = new Set(['snapshot', 'delta', 'aggregate', 'error', 'pong']);

const listName = fc.oneof(fc.constantFrom(...CATEGORIES, '__proto__', 'constructor', 'toString', ''), fc.string({ maxLength: 30 }));
const hostileMessage = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc
    .record(
      {
        action: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'resync', 'ping', '__proto__', 'SUBSCRIBE'), fc.string({ maxLength: 12 })),
        lists: fc.oneof(fc.array(listName, { maxLength: 40 }), fc.jsonValue({ maxDepth: 2 })),
        list: fc.oneof(listName, fc.jsonValue({ maxDepth: 2 })),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.constantFrom(
    '{"__proto__":{"polluted":1},"action":"subscribe","lists":["winners"]}',
    '{"constructor":{"prototype":{"polluted":1}},"action":"ping"}',
    '{"action":"subscribe","lists":["winners"],"action":"resync"}',
    `${'['.repeat(1500)}${']'.repeat(1500)}`,
    '{"action":"resync","list":"\\ud800\\udfff\\u0000\\u2028"}',
    '\u0000\u0001\u0002',
    '',
  ),
);

function rawWebSocket(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on('error', () => undefined);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', () => reject(new Error('refused')));
  });
}

function rawTcp(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('connect', () => s.write(bytes));
    setTimeout(() => s.destroy(), 1_500).unref();
  });
}

describe('protocol fuzz', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let server: WsServerHandle;
  let scanner: FakeScanner;
  let scanning = true;
  let scans: Promise<void>;

  beforeAll(async () => {
    redis = await startTestRedis();
    scanner = new FakeScanner(redis.client, { seed: 77 });
    await scanner.scan();
    server = await startWsServer({
      config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
      redisUrl: redis.server.url,
      log: captureLog('error').log,
      blockMs: 1_000,
      // Generous enough for the fuzzer to be heard; the flood case below still trips it.
      limits: { messageBurst: 400, maxMessagesPerSecond: 200 },
    });
    scans = (async () => {
      while (scanning) {
        await scanner.scan();
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
  });
  afterAll(async () => {
    scanning = false;
    await scans;
    await server.stop();
    await redis.stop();
  });

  it('answers or closes hostile clients and never disturbs a good one', async () => {
    const good = await ListClient.connect(`ws://127.0.0.1:${server.port}/ws`);
    good.subscribe(CATEGORIES);
    await eventually(() => good.snapshots === CATEGORIES.length, 'good client snapshots');

    const samples = fc.sample(hostileMessage, { numRuns: 1_500, seed: 4242 });
    const fuzzers = await Promise.all(Array.from({ length: 6 }, () => ListClient.connect(`ws://127.0.0.1:${server.port}/ws`)));
    samples.forEach((m, i) => {
      const f = fuzzers[i % fuzzers.length];
      if (f && f.ws.readyState === WebSocket.OPEN) f.send(m);
    });
    for (const f of fuzzers) {
      f.send({ action: 'ping' });
      await eventually(() => f.closeCode !== null || f.messages.some((m) => m.type === 'pong'), 'fuzzer answered');
      for (const m of f.messages) expect(KNOWN_TYPES.has(m.type)).toBe(true);
      expect(f.violations).toEqual([]);
    }
    expect(fuzzers.reduce((n, f) => n + f.errors.length, 0)).toBeGreaterThan(500);

    // Abuse the wire itself.
    const flood = await ListClient.connect(`ws://127.0.0.1:${server.port}/ws`);
    for (let i = 0; i < 2_000; i++) flood.send('{"action":"ping"}');
    const big = await ListClient.connect(`ws://127.0.0.1:${server.port}/ws`);
    big.send(JSON.stringify({ action: 'subscribe', lists: Array(5_000).fill('winners') }));
    const binary = await rawWebSocket(server.port);
    const binaryReplies: string[] = [];
    binary.on('message', (d) => binaryReplies.push(String(d)));
    binary.send(Buffer.from([1, 2, 3, 4]));
    const badUtf8 = await rawWebSocket(server.port);
    let badUtf8Code = 0;
    badUtf8.on('close', (code) => (badUtf8Code = code));
    badUtf8.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    const answers = await Promise.all([
      rawTcp(server.port, 'GARBAGE\r\n\r\n'),
      rawTcp(server.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
      rawTcp(server.port, Buffer.alloc(70_000, 0x41)),
      rawTcp(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n'),
    ]);
    await eventually(() => flood.closeCode !== null && big.closeCode !== null && badUtf8Code !== 0 && binaryReplies.length > 0, 'abusers handled');
    expect(flood.closeCode).toBe(1008);
    expect(big.closeCode).toBe(1009);
    expect(badUtf8Code).toBe(1007);
    expect(JSON.parse(binaryReplies[0] ?? '{}')).toMatchObject({ type: 'error', code: 'binary_not_supported' });
    expect(answers[0]).toContain('400');
    expect(answers[1]).toContain('400');

    // Nothing leaked into the prototypes, and the good client is still exact.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const seen = good.deltas;
    await eventually(() => good.deltas > seen + CATEGORIES.length, 'good client still receives deltas');
    scanning = false;
    await scans;
    await eventually(
      () => CATEGORIES.every((l) => JSON.stringify(good.rows(l)) === JSON.stringify(scanner.lists.get(l))),
      'good client equal to the scanner',
    );
    expect(good.violations).toEqual([]);
    expect(good.closeCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${server.port}/health`);
    expect(health.status).toBe(200);
    await Promise.all([...fuzzers, flood, big, good].map((c) => c.close()));
    binary.terminate();
    badUtf8.terminate();
  });
});
