import type { Redis } from 'ioredis';
import { serviceStatusKey } from '../shared/redis-keys.js';
import { withTimeout } from '../shared/with-timeout.js';

// Every role writes a small JSON status under serviceStatusKey(role) with a short TTL
// (src/services/status-writer.ts); the ws-server reads all three for the dashboard's status
// strip (/status), its own taken fresh from memory.

export const STATUS_ROLES = ['polygon-ws', 'scanner', 'ws-server'] as const;
export type StatusRole = (typeof STATUS_ROLES)[number];

export interface StatusReport {
  now: string;
  redis: 'up' | 'down';
  error?: string;
  services: Record<StatusRole, unknown>;
}

function parseStatus(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return { error: 'invalid_json' };
  }
}

/** The three statuses from Redis; `self` replaces the ws-server's own (fresher, and there when Redis is not). */
export async function readServiceStatuses(
  redis: Redis,
  self: Record<string, unknown>,
  timeoutMs = 1_500,
): Promise<StatusReport> {
  const services = { 'polygon-ws': null, scanner: null, 'ws-server': self } as Record<StatusRole, unknown>;
  const now = new Date().toISOString();
  try {
    const values = await withTimeout(redis.mget(...STATUS_ROLES.map((r) => serviceStatusKey(r))), timeoutMs, 'reading service statuses');
    STATUS_ROLES.forEach((role, i) => {
      if (role !== 'ws-server') services[role] = parseStatus(values[i] ?? null);
    });
    return { now, redis: 'up', services };
  } catch (err) {
    return { now, redis: 'down', error: (err as Error).message, services };
  }
}
