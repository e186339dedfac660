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

/** A command failed because Redis could not be reached: ioredis's own text names an option, not the problem. */
export class RedisUnreachableError extends Error {
  constructor(where: string, cause: string | null) {
    super(`Redis unreachable at ${where}${cause ? ` (${cause})` : ''}`);
    this.name = 'RedisUnreachableError';
  }
}

/** Where a target is, for messages: host:port or the sentinels, never the password. */
export function describeRedisTarget(target: string | RedisTarget): string {
  const t = typeof target === 'string' ? { url: target } : target;
  if (t.sentinels) return `sentinels ${t.sentinels} (master ${t.sentinelMaster ?? 'mymaster'})`;
  try {
    const u = new URL(t.url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'REDIS_URL';
  }
}

export interface RedisHealth {
  /** No connection of this process is down. */
  reachable: boolean;
  /** Where the down connections point, and the last error seen; null when reachable. */
  where: string | null;
  error: string | null;
  /** Since when a connection has been down (ms since the epoch); null when reachable. */
  downSince: number | null;
}

// Process-wide: the app's banner and the roles' states read it (every role shares one Redis).
// Keyed by connection, or by a start-up probe that found Redis away before any connection did.
const down = new Map<object, { where: string; error: string; since: number }>();

export function redisHealth(): RedisHealth {
  let first: { where: string; error: string; since: number } | null = null;
  for (const d of down.values()) if (!first || d.since < first.since) first = d;
  return first
    ? { reachable: false, where: first.where, error: first.error, downSince: first.since }
    : { reachable: true, where: null, error: null, downSince: null };
}

const probeKey = {};

/**
 * One PING with a short deadline, before the roles start: null when Redis answered, else why
 * not. An unreachable Redis is recorded (redisHealth) until a connection becomes ready.
 */
export async function probeRedis(target: RedisTarget, timeoutMs = 2_000): Promise<string | null> {
  const options: RedisOptions = {
    ...topology(target),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
  };
  const redis = target.sentinels ? new Redis(options) : new Redis(target.url, options);
  let lastError: string | null = null;
  redis.on('error', (err: Error) => (lastError = err.message));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    const why = lastError ?? (err instanceof Error ? err.message : String(err));
    down.set(probeKey, { where: describeRedisTarget(target), error: why, since: Date.now() });
    return why;
  } finally {
    redis.disconnect();
  }
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
  const where = describeRedisTarget(t);
  let lastError: string | null = null;
  let ready = false;
  const lost = (error: string) => {
    lastError = error;
    const was = down.get(redis);
    if (!was && !opts.quiet?.()) {
      // One line per outage for the process: its other connections are losing the same Redis.
      const line = { event: 'redis_connection_lost', connection: opts.name, where, error };
      if (down.size === 0) opts.log.warn(line);
      else opts.log.debug(line);
    }
    down.set(redis, { where, error, since: was?.since ?? Date.now() });
  };
  redis.on('error', (err: Error) => lost(err.message));
  redis.on('close', () => {
    // 'close' is emitted a tick late: by then a connection we quit or disconnected ourselves has
    // ended, while one that was lost is reconnecting. Only the latter is news.
    if (ready && redis.status !== 'end') lost('connection closed');
  });
  redis.on('end', () => down.delete(redis));
  // A connection we close ourselves is no longer down, whatever its state: ioredis emits no `end`
  // for one disconnected while it waits to reconnect (its timer is cleared and nothing is left
  // to close), so an abandoned connection would otherwise keep the process "unreachable" for good.
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) down.delete(redis);
    disconnect(reconnect);
  };
  redis.on('ready', () => {
    const was = down.get(redis) ?? down.get(probeKey);
    down.delete(redis);
    down.delete(probeKey);
    if (was) {
      const line = { event: 'redis_connection_restored', connection: opts.name, where, down_ms: Date.now() - was.since };
      if (down.size === 0) opts.log.info(line);
      else opts.log.debug(line);
    }
    ready = true;
  });
  // ioredis fails queued commands with a text about its maxRetriesPerRequest option: say instead
  // that Redis is unreachable, and where.
  const internals = redis as unknown as { flushQueue(error: Error, options?: unknown): void };
  const flushQueue = internals.flushQueue.bind(redis);
  internals.flushQueue = (error, flushOptions) =>
    flushQueue(error.name === 'MaxRetriesPerRequestError' ? new RedisUnreachableError(where, lastError) : error, flushOptions);
  return redis;
}
