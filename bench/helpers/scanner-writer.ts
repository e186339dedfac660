import type { Redis } from 'ioredis';
import { createRandom } from '../../src/shared/prng.js';
import { ACTIVE_TICKERS_KEY, ACTIVE_TICKERS_TTL_S, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';

// Writes the SET as our scanner does: the whole set replaced atomically (a temporary key renamed
// onto it) and one stream entry per change, in one MULTI.

export class ScannerWriter {
  private current = new Set<string>();
  private readonly random;
  private nextNew = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    seed = 1,
  ) {
    this.random = createRandom(seed);
  }

  members(): Set<string> {
    return new Set(this.current);
  }

  /** Replace the whole SET with `next`; resolves when Redis executed it, with that moment (ms). */
  async write(next: Set<string>): Promise<number> {
    const added = [...next].filter((s) => !this.current.has(s));
    const removed = [...this.current].filter((s) => !next.has(s));
    const tmp = `${ACTIVE_TICKERS_KEY}:bench-next`;
    const tx = this.redis.multi().del(tmp);
    const all = [...next];
    for (let i = 0; i < all.length; i += 5_000) tx.sadd(tmp, ...all.slice(i, i + 5_000));
    if (all.length > 0) tx.rename(tmp, ACTIVE_TICKERS_KEY).expire(ACTIVE_TICKERS_KEY, ACTIVE_TICKERS_TTL_S);
    else tx.del(ACTIVE_TICKERS_KEY);
    const ts = new Date().toISOString();
    for (const s of added) tx.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', s, 'action', 'subscribe', 'source', 'bench', 'session', 'MARKET_OPEN', 'timestamp', ts);
    for (const s of removed) tx.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', s, 'action', 'unsubscribe', 'source', 'bench', 'session', 'MARKET_OPEN', 'timestamp', ts);
    await tx.exec();
    this.current = next;
    return Date.now();
  }

  /** A set of `n` fresh symbols. */
  fresh(n: number): Set<string> {
    return new Set(Array.from({ length: n }, () => `${this.prefix}${this.nextNew++}`));
  }

  /** The current SET with `k` members swapped for fresh ones, as a scan's churn does. */
  churn(k: number): Set<string> {
    const next = new Set(this.current);
    const members = [...next];
    for (let i = 0; i < k && members.length > 0; i++) {
      const j = this.random.int(0, members.length);
      next.delete(members[j] as string);
      members.splice(j, 1);
    }
    for (const s of this.fresh(k)) next.add(s);
    return next;
  }
}
