import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { SERVICE_STATUS_TTL_S, serviceStatusKey } from '../shared/redis-keys.js';

// Every role publishes a small status document to Redis every few seconds, with a TTL, so the
// dashboard and operators see each service's state (and a dead one expire) from Redis alone.

export function startStatusWriter(opts: {
  redis: Redis;
  role: 'scanner' | 'polygon-ws' | 'ws-server';
  read: () => Record<string, unknown>;
  log: Logger;
  everyMs?: number;
  /** How the document is written; default a plain SET with the TTL. polygon-ws fences it with its lease. */
  write?: (key: string, json: string, ttlSeconds: number) => Promise<void>;
}): { stop(): void; writeNow(): Promise<void> } {
  const write =
    opts.write ??
    (async (key: string, json: string, ttl: number) => {
      await opts.redis.set(key, json, 'EX', ttl);
    });
  let failing = false;
  const writeNow = async () => {
    try {
      const doc = { role: opts.role, ...opts.read(), updated_at: new Date().toISOString() };
      await write(serviceStatusKey(opts.role), JSON.stringify(doc), SERVICE_STATUS_TTL_S);
      failing = false;
    } catch (err) {
      // Logged once per outage: the Redis connection logs its own errors.
      if (!failing) opts.log.warn({ event: 'status_write_failed', role: opts.role, error: err instanceof Error ? err.message : String(err) });
      failing = true;
    }
  };
  const timer = setInterval(() => void writeNow(), opts.everyMs ?? 2_000);
  timer.unref();
  void writeNow();
  return { stop: () => clearInterval(timer), writeNow };
}
