import { Redis, type RedisOptions } from 'ioredis';
import { backoffCeiling } from '../machines/backoff.js';
import type { Config } from '../config/env.js';
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

/** Where Redis is: a URL, or (Sentinel) the sentinels, the master's name, and the URL's password and db. */
export interface RedisTarget {
  url: string;
  /** `host:port,host:port`; empty for a standalone Redis. */
  sentinels?: string;
  sentinelMaster?: string;
}

export function redisTargetOf(config: Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER'>, url: string): RedisTarget {
  return { url, sentinels: config.REDIS_SENTINELS, sentinelMaster: config.REDIS_SENTINEL_MASTER };
}

function topology(target: RedisTarget): RedisOptions {
  if (!target.sentinels) return {};
  const u = target.url ? new URL(target.url) : null;
  return {
    sentinels: target.sentinels.split(',').map((hp) => {
      const [host, port] = hp.trim().split(':');
      return { host: host ?? '127.0.0.1', port: Number(port) };
    }),
    name: target.sentinelMaster ?? 'mymaster',
    password: u?.password ? decodeURIComponent(u.password) : undefined,
    db: u && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
  };
}

export function connectRedis(
  target: string | RedisTarget,
  opts: { name: string; purpose: RedisPurpose; log: Logger; quiet?: () => boolean },
): Redis {
  const t = typeof target === 'string' ? { url: target } : target;
  const options: RedisOptions = {
    ...PURPOSE[opts.purpose],
    connectionName: opts.name,
    retryStrategy: (times) => backoffCeiling(times, { baseMs: 100, maxMs: 2_000 }),
    ...topology(t),
  };
  const redis = t.sentinels ? new Redis(options) : new Redis(t.url, options);
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
