// Token buckets: a client may send `burst` requests at once, then `perSecond` sustained. One
// bucket is two numbers, so the ws-server keeps them on the socket object itself (no record per
// client) and the HTTP APIs keep them in a bounded map keyed by client address.

export interface TokenBucket {
  tokens: number;
  /** When `tokens` was last brought up to date, in the clock's unit (ms). */
  refillAt: number;
}

export interface TokenRate {
  perSecond: number;
  burst: number;
}

export const DEFAULT_HTTP_RATE: Readonly<TokenRate> = Object.freeze({ perSecond: 20, burst: 40 });

export function fillBucket(b: TokenBucket, burst: number, now: number): void {
  b.tokens = burst;
  b.refillAt = now;
}

/** Refill for the time elapsed, then take one token if there is one. */
export function takeToken(b: TokenBucket, now: number, perSecond: number, burst: number): boolean {
  // A wall clock stepped back must not drain the bucket.
  const elapsed = Math.max(0, now - b.refillAt);
  b.tokens = Math.min(burst, b.tokens + (elapsed * perSecond) / 1000);
  b.refillAt = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

export interface KeyedRateLimiterOptions extends TokenRate {
  /**
   * Buckets kept at most. Addresses are the attacker's to choose (IPv6 gives plenty), so the map
   * is bounded: past this size, buckets that are full again (idle: the same as a new one) are
   * dropped, then the least recently used ones.
   */
  maxKeys?: number;
  now?: () => number;
}

/** A token bucket per key (a client address), in bounded memory. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: KeyedRateLimiterOptions) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1)) {
      throw new RangeError(`a rate limit needs perSecond > 0 and burst >= 1, got ${opts.perSecond}/s burst ${opts.burst}`);
    }
    this.perSecond = opts.perSecond;
    this.burst = opts.burst;
    this.maxKeys = Math.max(1, opts.maxKeys ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** True when `key` may go ahead (a token was taken), false when it is over its rate. */
  take(key: string): boolean {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      // Re-inserted so the map's order is least recently used first.
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      b = { tokens: 0, refillAt: 0 };
      fillBucket(b, this.burst, now);
    }
    this.buckets.set(key, b);
    return takeToken(b, now, this.perSecond, this.burst);
  }

  /**
   * The map is in order of last use, so the idle buckets are at its head: the walk stops at the
   * first busy one once there is room, and costs what it removes.
   */
  private evict(now: number): void {
    const refillMs = (this.burst * 1000) / this.perSecond;
    for (const [k, b] of this.buckets) {
      if (this.buckets.size < this.maxKeys && now - b.refillAt < refillMs) break;
      this.buckets.delete(k);
    }
  }
}
