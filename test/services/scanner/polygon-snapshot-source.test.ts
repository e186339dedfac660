import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { startScanner } from '../../../src/roles/scanner.js';
import {
  createPolygonSnapshotSource,
  MarketSourceError,
  SNAPSHOT_PATH,
} from '../../../src/services/scanner/polygon-snapshot-source.js';
import { freePort } from '../../../src/shared/free-port.js';
import { createLogger } from '../../../src/shared/logger.js';
import { ACTIVE_TICKERS_KEY, categoryKey, SUBSCRIPTIONS_STREAM } from '../../../src/shared/redis-keys.js';
import { useTestRedis } from '../../helpers/redis.js';
import { eventually } from '../../helpers/wait.js';
import {
  documentedTicker,
  polygonBody,
  polygonMarket,
  polygonTicker,
  PRE_MARKET_AT,
  providerPreMarketBody,
} from '../../scanner/polygon-fixture.js';

const KEY = 'pk_live_SECRET_1234567890';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler;
let server: http.Server;
let baseUrl: string;
const requests: { url: string; auth: string | undefined }[] = [];
const hanging: http.ServerResponse[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', auth: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  requests.length = 0;
});

const json = (body: unknown, status = 200): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

async function failure(p: Promise<unknown>): Promise<MarketSourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MarketSourceError);
    const e = err as MarketSourceError;
    expect(e.message).not.toContain(KEY);
    expect(String(e.stack)).not.toContain(KEY);
    return e;
  }
  throw new Error('expected a failure');
}

const signal = () => new AbortController().signal;

describe('Polygon snapshot source', () => {
  it('GETs the full-market snapshot with the key in the Authorization header, and parses it', async () => {
    handler = json(polygonMarket(50));
    const source = createPolygonSnapshotSource({ apiKey: KEY, baseUrl: `${baseUrl}/`, now: () => 1_764_089_335_000 });
    const snap = await source.fetch(signal());
    expect(source.name).toBe('polygon');
    expect(snap.tickers).toHaveLength(50);
    expect(snap.takenAtMs).toBe(1_764_089_335_000);
    expect(requests).toEqual([{ url: `${SNAPSHOT_PATH}?include_otc=false`, auth: `Bearer ${KEY}` }]);
  });

  it('can put the key in the query string, and still never repeats it', async () => {
    handler = (req, res) => {
      // A server that echoes the request URL in its error, key included.
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error while serving ${req.url}`);
    };
    const source = createPolygonSnapshotSource({ apiKey: KEY, baseUrl, auth: 'query' });
    const e = await failure(source.fetch(signal()));
    expect(requests[0]!.url).toContain(`apiKey=${KEY}`);
    expect(e.kind).toBe('http');
    expect(e.status).toBe(500);
    expect(e.message).toContain('apiKey=[redacted]');
  });

  it('refuses garbage: HTML, truncated JSON, a body that is not a snapshot', async () => {
    const source = createPolygonSnapshotSource({ apiKey: KEY, baseUrl });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Bad gateway</body></html>');
    };
    expect((await failure(source.fetch(signal()))).kind).toBe('invalid');
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(polygonMarket(20)).slice(0, 500));
    };
    expect((await failure(source.fetch(signal()))).message).toMatch(/invalid JSON/);
    handler = json({ status: 'OK', tickers: 'everything' });
    expect((await failure(source.fetch(signal()))).message).toMatch(/no "tickers" array/);
    handler = json(polygonBody([42, 'x', null, polygonTicker({ ticker: 'OK' })]));
    expect((await failure(source.fetch(signal()))).message).toMatch(/3 of 4 entries malformed/);
  });

  it('times out a server that never answers', async () => {
    handler = (_req, res) => {
      hanging.push(res);
    };
    const source = createPolygonSnapshotSource({ apiKey: KEY, baseUrl, timeoutMs: 300 });
    const e = await failure(source.fetch(signal()));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/did not answer within 300 ms/);
  });

  it('times out a server that stops in the middle of the body', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"OK","tickers":[');
      hanging.push(res);
    };
    const source = createPolygonSnapshotSource({ apiKey: KEY, baseUrl, timeoutMs: 300 });
    expect((await failure(source.fetch(signal()))).kind).toBe('timeout');
  });

  it('says when the key is refused', async () => {
    handler = json({ status: 'ERROR', request_id: 'x', error: 'Unknown API Key' }, 401);
    const e = await failure(createPolygonSnapshotSource({ apiKey: KEY, baseUrl }).fetch(signal()));
    expect(e.kind).toBe('http');
    expect(e.message).toMatch(/HTTP 401 \(check POLYGON_API_KEY\)/);
  });

  it('refuses a body larger than its limit', async () => {
    handler = json(polygonMarket(200));
    const e = await failure(createPolygonSnapshotSource({ apiKey: KEY, baseUrl, maxBytes: 10_000 }).fetch(signal()));
    expect(e.kind).toBe('too_large');
  });

  it('reports an unreachable server', async () => {
    const port = await freePort();
    const e = await failure(createPolygonSnapshotSource({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}` }).fetch(signal()));
    expect(e.kind).toBe('network');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('stops when the scan is cancelled', async () => {
    handler = (_req, res) => {
      hanging.push(res);
    };
    const ctl = new AbortController();
    const p = createPolygonSnapshotSource({ apiKey: KEY, baseUrl, timeoutMs: 30_000 }).fetch(ctl.signal);
    setTimeout(() => ctl.abort(), 50);
    expect((await failure(p)).kind).toBe('aborted');
  });
});

describe('Polygon snapshot source: symbols as the provider spells them', () => {
  // Preferreds carry a lower-case `p`, classes a dot; the endpoint's tickers are case-sensitive.
  it('parses a body shaped like the documented example: preferreds, a class, an empty day, no prevDay, no lastTrade', async () => {
    handler = json(providerPreMarketBody());
    const snap = await createPolygonSnapshotSource({ apiKey: KEY, baseUrl, now: () => PRE_MARKET_AT }).fetch(signal());
    expect(snap.rejected).toBe(0);
    expect(snap.session).toBe('PRE_MARKET');
    // NEWCO (no prevDay) and ZVZZT (nothing traded yet) have nothing to rank: skipped, not malformed.
    expect(snap.tickers.map((t) => t.symbol)).toEqual(['BCAT', 'AMpB', 'BCpC', 'BRK.B', 'AAPL']);
    const by = new Map(snap.tickers.map((t) => [t.symbol, t]));
    // The documented ticker, every block present.
    const doc = documentedTicker() as { day: { o: number; c: number }; prevDay: { c: number } };
    expect(by.get('BCAT')).toMatchObject({ price: 20.506, prevClose: doc.prevDay.c, day: { open: doc.day.o, close: doc.day.c }, volume: 37216 });
    // Before the open: `day` is {}, so no regular-session bar; price from the last trade.
    expect(by.get('AMpB')).toMatchObject({ price: 22, prevClose: 20, day: null, volume: 60_000 });
    // No lastTrade: priced from the minute bar.
    expect(by.get('BCpC')).toMatchObject({ price: 23.5, prevClose: 25, day: null });
    expect(by.get('BRK.B')).toMatchObject({ price: 500.5, prevClose: 480 });
    expect(by.has('AMPB')).toBe(false);
  });

  describe('a scanner on that source', () => {
    const redis = useTestRedis();

    it('ranks preferreds and classes under their own names, and warns about nothing, scan after scan', async () => {
      handler = json(providerPreMarketBody());
      const lines: Record<string, unknown>[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      });
      const scanner = await startScanner({
        config: { ...loadConfig({}), SCAN_INTERVAL_MS: 200 },
        redis: redis.current.client,
        log: createLogger({ level: 'info', destination }),
        source: createPolygonSnapshotSource({ apiKey: KEY, baseUrl, now: () => PRE_MARKET_AT }),
      });
      try {
        await eventually(() => lines.filter((l) => l.event === 'scanner_cycle_completed').length >= 3, 'three scans');
      } finally {
        await scanner.stop();
      }
      expect(lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal')).toEqual([]);
      expect(lines.find((l) => l.event === 'scanner_cycle_completed')).toMatchObject({ source: 'polygon', tickers: 5 });

      const c = redis.current.client;
      const set = await c.smembers(ACTIVE_TICKERS_KEY);
      for (const sym of ['AMpB', 'BCpC', 'BRK.B', 'AAPL']) expect(set).toContain(sym);
      for (const sym of ['AMPB', 'BCPC', 'NEWCO', 'ZVZZT']) expect(set).not.toContain(sym);
      const rows = async (list: 'gappers_up' | 'gappers_down') =>
        (JSON.parse((await c.get(categoryKey(list))) ?? '[]') as { symbol: string }[]).map((r) => r.symbol);
      expect(await rows('gappers_up')).toEqual(['AMpB', 'AAPL', 'BRK.B']);
      expect(await rows('gappers_down')).toEqual(['BCpC']);
      const subscribed = (await c.xrange(SUBSCRIPTIONS_STREAM, '-', '+')).map(([, f]) => f[f.indexOf('symbol') + 1]);
      expect(subscribed).toEqual(expect.arrayContaining(['AMpB', 'BCpC', 'BRK.B', 'AAPL']));
      expect(subscribed).not.toContain('AMPB');
    });
  });
});
