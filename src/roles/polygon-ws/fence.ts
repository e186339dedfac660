import type { Redis } from 'ioredis';
import { FencedOut, type Command, type LeaderLease } from '../../services/leader-lease.js';

// Every write of the leader is fenced by its term's token: a deposed leader writes nothing. The
// services that write are created before the actor system whose context holds the token, so the
// fence refuses every write until it is told where the token lives.

export interface Fence {
  /** The fencing token of the term this instance leads; null while standing by. */
  token(): number | null;
  /** Runs the commands only while this instance's term still holds the lease (FencedOut otherwise). */
  write(redis: Redis, commands: readonly Command[]): Promise<void>;
  /** From now on the token is read from here: the polygon-ws actor's context. */
  follow(tokenOf: () => number | null): void;
}

export function createFence(lease: Pick<LeaderLease, 'fenced'>): Fence {
  let tokenOf: () => number | null = () => null;
  return {
    token: () => tokenOf(),
    write(redis, commands) {
      const t = tokenOf();
      return t === null ? Promise.reject(new FencedOut()) : lease.fenced(redis, t, commands);
    },
    follow(f) {
      tokenOf = f;
    },
  };
}
