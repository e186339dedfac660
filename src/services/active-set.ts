import type { Redis } from 'ioredis';
import type { SetRead } from '../machines/reconciler.machine.js';
import { ACTIVE_TICKERS_KEY } from '../shared/redis-keys.js';
import { isValidSymbol } from '../upstream/codec.js';
import type { Logger } from '../shared/logger.js';
import { counter } from '../shared/metrics.js';

// Reads the SET `polygon_ws:active_tickers`, the single source of truth. Full reads (the
// reconciler) and membership checks (the event fast path) share ONE connection, so Redis runs
// them in the order they were issued; `obs` numbers that order, and the reconciler uses it to
// tell which of two observations is newer.

export interface MembershipCheck {
  obs: number;
  setExists: boolean;
  members: Record<string, boolean>;
}

const invalidMembers = counter('livescan_active_set_invalid_members_total', 'SET members that are not valid ticker symbols');

export interface ActiveSet {
  read(): Promise<SetRead>;
  check(symbols: readonly string[]): Promise<MembershipCheck>;
}

export function createActiveSet(redis: Redis, log: Logger): ActiveSet {
  let obs = 0;
  return {
    async read() {
      const n = ++obs;
      const raw = await redis.smembers(ACTIVE_TICKERS_KEY);
      const members = raw.filter((s) => isValidSymbol(s));
      if (members.length !== raw.length) {
        const bad = raw.filter((s) => !isValidSymbol(s));
        invalidMembers.inc(bad.length);
        log.warn({ event: 'active_set_invalid_members', count: bad.length, sample: bad.slice(0, 5) });
      }
      return { obs: n, exists: raw.length > 0, members, at: new Date().toISOString() };
    },
    async check(symbols) {
      const n = ++obs;
      // EXISTS and SMISMEMBER in one transaction: membership is meaningless without knowing the
      // SET was there at that instant (a non-atomic scanner deletes it before refilling it).
      const res = await redis.multi().exists(ACTIVE_TICKERS_KEY).smismember(ACTIVE_TICKERS_KEY, ...symbols).exec();
      if (!res) throw new Error('membership check transaction aborted');
      const [existsRes, memberRes] = res;
      if (existsRes?.[0]) throw existsRes[0];
      if (memberRes?.[0]) throw memberRes[0];
      const flags = memberRes?.[1] as number[];
      const members: Record<string, boolean> = {};
      symbols.forEach((s, i) => (members[s] = flags[i] === 1));
      return { obs: n, setExists: (existsRes?.[1] as number) === 1, members };
    },
  };
}
