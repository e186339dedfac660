import { loadConfig, type Config } from '../../src/config/env.js';
import { startPolygonWs, type PolygonWsRole } from '../../src/roles/polygon-ws/index.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';

/** Start the real polygon-ws role against a simulator and a test Redis, with test-friendly timings. */
export async function startTestPolygonWs(opts: {
  redisUrl: string;
  wsUrl: string;
  apiKey?: string;
  env?: Record<string, string>;
  log?: Logger;
}): Promise<{ role: PolygonWsRole; config: Config }> {
  const config = loadConfig({
    POLYGON_WS_URL: opts.wsUrl,
    POLYGON_API_KEY: opts.apiKey ?? 'sim-key',
    RECONCILE_INTERVAL_MS: '2000',
    SUBSCRIBE_BATCH_SIZE: '25',
    EMPTY_SET_GRACE_MS: '30000',
    LEADER_TTL_MS: '3000',
    POLYGON_WS_CONSUMER: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...opts.env,
  });
  const log = opts.log ?? createLogger({ level: config.LOG_LEVEL, secrets: [config.POLYGON_API_KEY] });
  const role = await startPolygonWs({
    config,
    redisUrl: opts.redisUrl,
    log,
    httpPort: 0,
    connection: {
      backoff: { baseMs: 50, maxMs: 500 },
      youngDeathMs: 1_000,
      kickPenaltyMs: 1_000,
      stableAfterMs: 5_000,
      heartbeatTimeoutMs: 10_000,
    },
    reconciler: { retryMs: 100 },
  });
  return { role, config };
}
