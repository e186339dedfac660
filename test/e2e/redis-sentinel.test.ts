import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { startScanner } from '../../src/roles/scanner.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/services/embedded-redis.js';
import { createLogger } from '../../src/shared/logger.js';
import { freePort } from '../../src/shared/free-port.js';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { eventually } from '../helpers/wait.js';

// Redis behind Sentinel (REDIS_SENTINELS): the scanner and polygon-ws find the master through a
// real sentinel (redis-server --sentinel) and work as against a standalone Redis.

describe('Redis through Sentinel', () => {
  let master: EmbeddedRedis;
  let sentinel: ChildProcess;
  let sentinelPort: number;
  let dir: string;
  let sim: PolygonSimulator;

  beforeAll(async () => {
    master = await startEmbeddedRedis();
    sentinelPort = await freePort();
    dir = mkdtempSync(path.join(tmpdir(), 'livescan-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\n`);
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await eventually(async () => {
      const probe = new Redis(sentinelPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as string[] | null;
        return addr?.[1] === String(master.port);
      } finally {
        probe.disconnect();
      }
    }, 'the sentinel to know the master');
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
  });

  afterAll(async () => {
    await sim.close();
    sentinel.kill('SIGKILL');
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the scanner writes the SET and polygon-ws follows it, both through the sentinel', async () => {
    const env = { REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_MASTER: 'mymaster' };
    const { role } = await startTestPolygonWs({ redisUrl: '', wsUrl: sim.url, env });
    const scanner = await startScanner({
      config: loadConfig({ ...env, SCAN_INTERVAL_MS: '1000', MARKET_SYMBOLS: '300', LOG_LEVEL: 'silent' }),
      redisUrl: '',
      log: createLogger({ level: 'silent' }),
    });
    const direct = new Redis(master.url);
    try {
      await eventually(async () => {
        const set = (await direct.smembers(ACTIVE_TICKERS_KEY)).sort();
        return set.length > 0 && role.view.status().state === 'live' && JSON.stringify([...sim.acknowledged()].sort()) === JSON.stringify(set);
      }, 'the upstream to hold the SET the scanner wrote', 30_000, 100);
      expect(role.view.status().gap).toBe(0);
    } finally {
      direct.disconnect();
      await scanner.stop();
      await role.stop();
    }
  });
});
