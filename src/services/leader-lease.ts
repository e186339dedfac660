import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { leaderEpochKey, leaderLeaseKey } from '../shared/redis-keys.js';

// The Redis lease behind leader election: SET-if-absent with expiry, holding "<instance>:<token>",
// where the token is a fencing counter that only grows. Renewing, releasing and every write the
// leader makes check that the lease still holds our value, in the same script, so a leader that
// lost the lease (paused, cut off) cannot write over its successor.

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token`;

const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

// ARGV: the lease value, then commands, each as its argument count followed by its arguments.
const FENCED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local i = 2
local n = 0
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
  n = n + 1
end
return n`;

export type Command = readonly (string | number)[];

export class FencedOut extends Error {
  constructor() {
    super('fenced out: this instance no longer holds the leader lease');
    this.name = 'FencedOut';
  }
}

export interface LeaderLease {
  readonly instanceId: string;
  acquire(): Promise<number>;
  renew(token: number): Promise<boolean>;
  release(token: number): Promise<void>;
  /** Runs the commands only if `token` still holds the lease; throws FencedOut otherwise. */
  fenced(redis: Redis, token: number, commands: readonly Command[]): Promise<void>;
}

/** A short, stable id of the API key: names the lease without revealing the key. */
export function apiKeyId(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
}

export function createLeaderLease(opts: { redis: Redis; apiKey: string; instanceId: string; ttlMs: number }): LeaderLease {
  const id = apiKeyId(opts.apiKey);
  const lease = leaderLeaseKey(id);
  const epoch = leaderEpochKey(id);
  const value = (token: number) => `${opts.instanceId}:${token}`;
  return {
    instanceId: opts.instanceId,
    async acquire() {
      return Number(await opts.redis.eval(ACQUIRE, 2, lease, epoch, opts.instanceId, opts.ttlMs));
    },
    async renew(token) {
      return Number(await opts.redis.eval(RENEW, 1, lease, value(token), opts.ttlMs)) === 1;
    },
    async release(token) {
      await opts.redis.eval(RELEASE, 1, lease, value(token));
    },
    async fenced(redis, token, commands) {
      if (commands.length === 0) return;
      const args: (string | number)[] = [value(token)];
      for (const c of commands) args.push(c.length, ...c);
      const n = Number(await redis.eval(FENCED, 1, lease, ...args));
      if (n < 0) throw new FencedOut();
    },
  };
}
