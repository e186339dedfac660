import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LeaseAnswer } from '../machines/leader.machine.js';
import { leaderEpochKey, leaderLeaseKey } from '../shared/redis-keys.js';

// The Redis lease behind leader election: SET-if-absent with expiry, holding "<instance>:<token>",
// where the token is a fencing counter that only grows. Renewing, releasing and every write the
// leader makes check that the lease still holds our value, in the same script, so a leader that
// lost the lease (paused, cut off) cannot write over its successor.

const ACQUIRE = `
local held = redis.call('GET', KEYS[1])
if held then
  -- Our own lease (a reply lost to a reconnect, a resent command): take it back, do not wait it out.
  local prefix = ARGV[1] .. ':'
  if string.sub(held, 1, #prefix) == prefix then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(held, #prefix + 1))
  end
  return 0
end
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
  acquire(): Promise<LeaseAnswer>;
  renew(token: number): Promise<LeaseAnswer>;
  release(token: number): Promise<void>;
  /** Runs the commands only if `token` still holds the lease; throws FencedOut otherwise. */
  fenced(redis: Redis, token: number, commands: readonly Command[]): Promise<void>;
}

/** A short, stable id of the API key: names the lease without revealing the key. */
export function apiKeyId(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
}

/** Commands per fenced script: bounds both the argument list and how long Redis runs one script. */
const FENCED_CHUNK = 500;

export function createLeaderLease(opts: { redis: Redis; apiKey: string; instanceId: string; ttlMs: number; safetyMs: number }): LeaderLease {
  const id = apiKeyId(opts.apiKey);
  const lease = leaderLeaseKey(id);
  const epoch = leaderEpochKey(id);
  const value = (token: number) => `${opts.instanceId}:${token}`;
  return {
    instanceId: opts.instanceId,
    async acquire() {
      return timed(() => opts.redis.eval(ACQUIRE, 2, lease, epoch, opts.instanceId, opts.ttlMs));
    },
    async renew(token) {
      return timed(() => opts.redis.eval(RENEW, 1, lease, value(token), opts.ttlMs));
    },
    async release(token) {
      await opts.redis.eval(RELEASE, 1, lease, value(token));
    },
    async fenced(redis, token, commands) {
      for (let i = 0; i < commands.length; i += FENCED_CHUNK) {
        const args: (string | number)[] = [value(token)];
        for (const c of commands.slice(i, i + FENCED_CHUNK)) args.push(c.length, ...c);
        // Chunked: a frame of thousands of aggregates would otherwise pass the engine's limit on
        // spread arguments, and hold Redis in one long script.
        const n = Number(await redis.eval(FENCED, 1, lease, ...args));
        if (n < 0) throw new FencedOut();
      }
    },
  };

  // Redis restarts the expiry when it RUNS the command, at the latest when the reply comes: the
  // time the lease is safe to act on is counted from when the call was sent.
  async function timed(call: () => Promise<unknown>): Promise<LeaseAnswer> {
    const sentAt = performance.now();
    const value = Number(await call());
    return { value, validForMs: opts.ttlMs - opts.safetyMs - (performance.now() - sentAt) };
  }
}
