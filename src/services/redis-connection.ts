import { Redis, type RedisOptions } from 'ioredis';
import { backoffCeiling } from '../machines/backoff.js';
import type { Logger } from '../shared/logger.js';

// Every Redis connection livescan opens, by what it is for. A command must fail fast while Redis
// is away, so the caller reports and retries instead of hanging (and nothing queues without
// bound); the connection itself reconnects with capped backoff and says so once per outage.

export type RedisPurpose =
  /** Reads and transactions: retried once over a reconnect, then failed. */
  | 'commands'
  /** XREAD(GROUP) BLOCK: a read in flight when the connection drops fails, never resent blindly. */
  | 'blocking'
  /** Live data (aggregates): dropped at once while disconnected. */
  | 'fire-and-forget';

const PURPOSE: Record<RedisPurpose, RedisOptions> = {
  commands: { maxRetriesPerRequest: 1 },
  blocking: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false },
  'fire-and-forget': { maxRetriesPerRequest: 0, enableOfflineQueue: false },
};

export function connectRedis(
  url: string,
  opts: { name: string; purpose: RedisPurpose; log: Logger; quiet?: () => boolean },
): Redis {
  const redis = new Redis(url, {
    ...PURPOSE[opts.purpose],
    connectionName: opts.name,
    retryStrategy: (times) => backoffCeiling(times, { baseMs: 100, maxMs: 2_000 }),
  });
  let down = false;
  let ready = false;
  const lost = (error: string) => {
    if (!down && !opts.quiet?.()) opts.log.warn({ event: 'redis_connection_lost', connection: opts.name, error });
    down = true;
  };
  redis.on('error', (err: Error) => lost(err.message));
  redis.on('close', () => {
    if (ready) lost('connection closed');
  });
  redis.on('ready', () => {
    if (down) opts.log.info({ event: 'redis_connection_restored', connection: opts.name });
    down = false;
    ready = true;
  });
  return redis;
}
