import { Redis } from 'ioredis';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { startScanner } from '../../src/roles/scanner.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/services/embedded-redis.js';
import { createLogger } from '../../src/shared/logger.js';
import { ACTIVE_TICKERS_KEY, RANKING_DELTAS_STREAM } from '../../src/shared/redis-keys.js';
import { eventually } from '../helpers/wait.js';

// Redis goes away under a running scanner (and comes back empty, as a redis-server without
// persistence does): scans fail, are reported and retried, and the scanner recovers by itself,
// its sequences still moving forward.

let server: EmbeddedRedis;
let probe: Redis;
beforeAll(async () => {
  server = await startEmbeddedRedis();
  probe = new Redis(server.url, { maxRetriesPerRequest: null });
  probe.on('error', () => undefined);
});
afterAll(async () => {
  probe.disconnect();
  await server.stop();
});

async function lastSequence(): Promise<number> {
  const [entry] = await probe.xrevrange(RANKING_DELTAS_STREAM, '+', '-', 'COUNT', 1);
  return entry ? (JSON.parse(entry[1][1]!) as { sequence: number }).sequence : 0;
}

it('survives a Redis outage: failures reported and retried, then scans resume without going back', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  });
  const events = (name: string) => lines.filter((l) => l.event === name);
  const config = { ...loadConfig({}), SCAN_INTERVAL_MS: 200, MARKET_SYMBOLS: 300 };
  const scanner = await startScanner({ config, redisUrl: server.url, log, backoff: { baseMs: 100, maxMs: 400 }, redisTimeoutMs: 2_000 });
  try {
    await eventually(() => events('scanner_cycle_completed').length >= 3, 'scans before the outage');
    const before = await lastSequence();
    expect(before).toBeGreaterThanOrEqual(3);

    const port = server.port;
    await server.stop();
    await eventually(() => events('scanner_cycle_failed').length >= 2, 'reported failures', 30_000);
    const completedDuring = events('scanner_cycle_completed').length;
    // Back on the same port, with nothing in it (as a redis-server without persistence restarts).
    server = await startEmbeddedRedis({ port });
    await eventually(async () => (await probe.exists(ACTIVE_TICKERS_KEY)) === 1, 'the SET written again', 30_000);
    expect(events('scanner_cycle_completed').length).toBeGreaterThan(completedDuring);
    const after = await lastSequence();
    expect(after).toBeGreaterThan(before);
    const failures = events('scanner_cycle_failed');
    expect(failures.every((f) => f.stage === 'publish' || f.stage === 'load')).toBe(true);
    // Backoff: the announced delays grow.
    expect(Number(failures[1]!.retry_in_ms)).toBeGreaterThan(Number(failures[0]!.retry_in_ms));
  } finally {
    await scanner.stop();
  }
});
