import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/env.js';
import { startScanner, type ScannerHandle } from '../../src/roles/scanner.js';
import type { MarketSource } from '../../src/scanner/market-snapshot.js';
import { MarketSourceError } from '../../src/services/scanner/polygon-snapshot-source.js';
import { createSimulatedMarketSource } from '../../src/services/scanner/simulated-market-source.js';
import { createLogger } from '../../src/shared/logger.js';
import { registry } from '../../src/shared/metrics.js';
import {
  ACTIVE_TICKERS_KEY,
  CATEGORIES,
  RANKING_DELTAS_STREAM,
  SUBSCRIPTIONS_STREAM,
  categoryKey,
  serviceStatusKey,
} from '../../src/shared/redis-keys.js';
import { useTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

const testRedis = useTestRedis();
const redis = {
  get client() {
    return testRedis.current.client;
  },
};

/** A logger whose JSON lines the test can read. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  const log = createLogger({ level: 'info', destination });
  return { log, lines, raw, events: (name: string) => lines.filter((l) => l.event === name) };
}

function config(over: Partial<Config> = {}): Config {
  return { ...loadConfig({}), SCAN_INTERVAL_MS: 200, MARKET_SYMBOLS: 300, ...over };
}

function start(cap: ReturnType<typeof capture>, over: Partial<Parameters<typeof startScanner>[0]> = {}): Promise<ScannerHandle> {
  return startScanner({ config: config(), redis: redis.client, log: cap.log, backoff: { baseMs: 50, maxMs: 200 }, ...over });
}

async function rankingMessages() {
  const entries = await redis.client.xrange(RANKING_DELTAS_STREAM, '-', '+');
  return entries.map(([, f]) => JSON.parse(f[1]!) as { list: string; type: string; sequence: number });
}

describe('scanner role', () => {
  it('scans the simulated market on its interval and publishes the four outputs', async () => {
    const cap = capture();
    const scanner = await start(cap);
    try {
      await eventually(() => cap.events('scanner_cycle_completed').length >= 3, 'three scans');
      expect(scanner.source.name).toBe('simulated');
      expect(await redis.client.scard(ACTIVE_TICKERS_KEY)).toBeGreaterThan(0);
      for (const c of CATEGORIES) expect(await redis.client.exists(categoryKey(c))).toBe(1);
      expect(await redis.client.xlen(SUBSCRIPTIONS_STREAM)).toBeGreaterThan(0);
      const status = JSON.parse((await redis.client.get(serviceStatusKey('scanner')))!);
      expect(status).toMatchObject({ role: 'scanner', state: 'running', source: 'simulated', interval_ms: 200 });
      const line = cap.events('scanner_cycle_completed')[0]!;
      expect(line).toMatchObject({ cycle: 1, source: 'simulated', tickers: 300 });
      expect(line).toHaveProperty('duration_ms');
      const metrics = await registry.metrics();
      expect(metrics).toContain('livescan_scanner_cycle_duration_seconds_count');
      expect(metrics).toMatch(/livescan_scanner_active_tickers \d+/);
    } finally {
      await scanner.stop();
    }
    expect(cap.events('scanner_stopped')).toHaveLength(1);
  });

  it('continues its sequences after a restart and only sends real subscription changes', async () => {
    const cap = capture();
    const first = await start(cap, { source: createSimulatedMarketSource({ seed: 9, symbols: 300 }) });
    await eventually(() => cap.events('scanner_cycle_completed').length >= 3, 'three scans');
    await first.stop();
    const before = await rankingMessages();
    const setBefore = new Set(await redis.client.smembers(ACTIVE_TICKERS_KEY));
    const eventsBefore = await redis.client.xlen(SUBSCRIPTIONS_STREAM);

    // A different market after the restart, so the lists really change.
    const cap2 = capture();
    const second = await start(cap2, { source: createSimulatedMarketSource({ seed: 10, symbols: 300 }), config: config({ SCAN_INTERVAL_MS: 60_000 }) });
    try {
      await eventually(() => cap2.events('scanner_cycle_completed').length >= 1, 'a scan after the restart');
      expect(cap2.events('scanner_state_loaded')[0]).toMatchObject({ active_tickers: setBefore.size });
      const after = (await rankingMessages()).slice(before.length);
      expect(after).toHaveLength(11);
      for (const c of CATEGORIES) {
        const lastBefore = before.filter((m) => m.list === c).at(-1)!;
        const firstAfter = after.find((m) => m.list === c)!;
        expect(firstAfter.sequence).toBe(lastBefore.sequence + 1);
        expect(firstAfter.type).toBe('snapshot');
      }
      const setAfter = new Set(await redis.client.smembers(ACTIVE_TICKERS_KEY));
      const events = (await redis.client.xrange(SUBSCRIPTIONS_STREAM, '-', '+')).slice(eventsBefore).map(([, f]) => `${f[3]} ${f[1]}`);
      const expected = [
        ...[...setAfter].filter((s) => !setBefore.has(s)).sort().map((s) => `subscribe ${s}`),
        ...[...setBefore].filter((s) => !setAfter.has(s)).sort().map((s) => `unsubscribe ${s}`),
      ];
      expect(events).toEqual(expected);
    } finally {
      await second.stop();
    }
  });

  it('a market source that fails is retried and reported, and nothing is published meanwhile', async () => {
    const cap = capture();
    const sim = createSimulatedMarketSource({ seed: 1, symbols: 300 });
    let calls = 0;
    const flaky: MarketSource = {
      name: 'polygon',
      async fetch(signal) {
        calls++;
        if (calls === 1) throw new MarketSourceError('invalid', 'market snapshot refused: no "tickers" array');
        if (calls === 2) throw new MarketSourceError('timeout', 'market source did not answer within 8000 ms');
        return sim.fetch(signal);
      },
    };
    const scanner = await start(cap, { source: flaky, config: config({ SCAN_INTERVAL_MS: 60_000 }) });
    try {
      await eventually(() => cap.events('scanner_cycle_failed').length === 2, 'two reported failures');
      expect(cap.events('scanner_cycle_failed').map((l) => [l.stage, l.attempt])).toEqual([['fetch', 1], ['fetch', 2]]);
      await eventually(() => cap.events('scanner_cycle_completed').length === 1, 'the scan after the failures');
      expect(await redis.client.xlen(RANKING_DELTAS_STREAM)).toBe(11);
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/livescan_scanner_cycle_failures_total\{stage="fetch"\} [1-9]/);
    } finally {
      await scanner.stop();
    }
  });

  it('with a real key, the key reaches no log line, even when the server echoes it', async () => {
    const KEY = 'pk_live_TOPSECRET_0987654321';
    const server = http.createServer((req, res) => {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`forbidden: ${req.headers.authorization} on ${req.url}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cap = capture();
    const scanner = await start(cap, { config: config({ POLYGON_API_KEY: KEY, POLYGON_REST_URL: url, SCAN_INTERVAL_MS: 1_000 }) });
    try {
      expect(scanner.source.name).toBe('polygon');
      await eventually(() => cap.events('scanner_cycle_failed').length >= 2, 'reported failures');
      expect(cap.events('scanner_cycle_failed')[0]!.error).toMatch(/HTTP 403 \(check POLYGON_API_KEY\)/);
      expect(cap.raw.join('\n')).not.toContain(KEY);
      const status = (await redis.client.get(serviceStatusKey('scanner'))) ?? '';
      expect(status).toContain('failing');
      expect(status).not.toContain(KEY);
      expect(await redis.client.exists(ACTIVE_TICKERS_KEY)).toBe(0);
    } finally {
      await scanner.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
