import type { Redis } from 'ioredis';
import type { EmbeddedRedis } from '../../src/services/embedded-redis.js';
import type { Random } from '../../src/shared/prng.js';
import { SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import type { PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import type { RoleName, RoleProcess } from './processes.js';

// The faults of issue 6, one at a time, drawn from a seeded PRNG so a run's sequence of faults can
// be replayed (CHAOS_SEED). Each returns when the fault is over: recovery is measured from then.

export const FAULT_KINDS = [
  'redis_restart',
  'kill_scanner',
  'kill_polygon_ws',
  'kill_ws_server',
  'drop_stream_entries',
  'close_1008',
  'stall_acks',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultContext {
  redis: EmbeddedRedis;
  /** A client of that Redis for the suite's own commands. */
  admin: Redis;
  sim: PolygonSimulator;
  roles: Record<RoleName, RoleProcess>;
  random: Random;
}

export interface FaultOutcome {
  kind: FaultKind;
  /** What exactly was done (variant, counts). */
  detail: string;
  injectedAt: number;
  /** When the fault was over (the stall lifted, the process respawned): recovery counts from here. */
  endedAt: number;
}

export function pickFault(random: Random): FaultKind {
  return FAULT_KINDS[random.int(0, FAULT_KINDS.length)] ?? 'close_1008';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The id of the stream's newest entry, or null when the stream is missing or empty. */
async function lastEntryId(admin: Redis): Promise<string | null> {
  const newest = await admin.xrevrange(SUBSCRIPTIONS_STREAM, '+', '-', 'COUNT', 1);
  return newest[0]?.[0] ?? null;
}

async function dropStreamEntries(ctx: FaultContext): Promise<string> {
  const variant = (['xtrim', 'xdel_recent', 'undelivered'] as const)[ctx.random.int(0, 3)] ?? 'xtrim';
  switch (variant) {
    case 'xtrim': {
      // Everything goes, read or not: the group's position now points past an empty stream.
      const n = await ctx.admin.xtrim(SUBSCRIPTIONS_STREAM, 'MAXLEN', 0);
      return `xtrim MAXLEN 0 (${n} entries)`;
    }
    case 'xdel_recent': {
      // The newest entries, which may still be pending in the group (delivered, not yet XACKed).
      const count = ctx.random.int(1, 11);
      const recent = await ctx.admin.xrevrange(SUBSCRIPTIONS_STREAM, '+', '-', 'COUNT', count);
      const ids = recent.map(([id]) => id);
      const n = ids.length > 0 ? await ctx.admin.xdel(SUBSCRIPTIONS_STREAM, ...ids) : 0;
      return `xdel of the ${n} newest entries`;
    }
    case 'undelivered': {
      // Entries no consumer ever saw: polygon-ws is down while the scanner writes, and those
      // entries are deleted before it comes back. Only the SET can tell it what they said.
      const before = await lastEntryId(ctx.admin);
      await ctx.roles['polygon-ws'].kill('SIGKILL');
      await sleep(ctx.random.between(1500, 3000));
      const written = await ctx.admin.xrange(SUBSCRIPTIONS_STREAM, before === null ? '-' : `(${before}`, '+');
      const ids = written.map(([id]) => id);
      const n = ids.length > 0 ? await ctx.admin.xdel(SUBSCRIPTIONS_STREAM, ...ids) : 0;
      await ctx.roles['polygon-ws'].start();
      return `polygon-ws down, ${n} undelivered entries deleted`;
    }
  }
}

export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<FaultOutcome> {
  const injectedAt = Date.now();
  let detail = '';
  switch (kind) {
    case 'redis_restart':
      // Stop and start on the same port with no persistence: every key, stream and group is gone.
      await ctx.redis.restart();
      detail = 'redis-server restarted, data lost';
      break;
    case 'kill_scanner':
    case 'kill_polygon_ws':
    case 'kill_ws_server': {
      const role: RoleName = kind === 'kill_scanner' ? 'scanner' : kind === 'kill_polygon_ws' ? 'polygon-ws' : 'ws-server';
      await ctx.roles[role].crashAndRestart();
      detail = `${role} SIGKILLed and restarted`;
      break;
    }
    case 'drop_stream_entries':
      detail = await dropStreamEntries(ctx);
      break;
    case 'close_1008': {
      const n = ctx.sim.close1008();
      detail = n > 0 ? `closed ${n} upstream connection(s) with 1008` : 'no live upstream connection to close';
      break;
    }
    case 'stall_acks': {
      const holdMs = Math.round(ctx.random.between(3000, 6000));
      ctx.sim.setAckDelay(2000);
      await sleep(holdMs);
      ctx.sim.setAckDelay(0);
      detail = `acks delayed 2000 ms for ${holdMs} ms`;
      break;
    }
  }
  return { kind, detail, injectedAt, endedAt: Date.now() };
}
