// "At most once per key per period", for log lines about a client: a flood stays visible without
// flooding the log. The keys are client addresses, chosen by the client, so the memory is
// bounded: past `maxKeys`, the oldest keys are forgotten (a forgotten key may be logged again
// early, which costs a line, never memory).

export interface KeyedThrottleOptions {
  periodMs: number;
  maxKeys?: number;
  now?: () => number;
}

export class KeyedThrottle {
  /** Insertion order is the order the keys were last let through. */
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly periodMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: KeyedThrottleOptions) {
    this.periodMs = opts.periodMs;
    this.maxKeys = Math.max(1, opts.maxKeys ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.last.size;
  }

  /**
   * Null while `key` is within its period (counted as suppressed); otherwise how many were
   * suppressed since it was last let through, and the period starts again.
   */
  pass(key: string): { suppressed: number } | null {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.periodMs && t >= s.at) {
      s.suppressed++;
      return null;
    }
    const suppressed = s?.suppressed ?? 0;
    this.last.delete(key);
    for (const [k, v] of this.last) {
      if (this.last.size < this.maxKeys && t - v.at < this.periodMs) break;
      this.last.delete(k);
    }
    this.last.set(key, { at: t, suppressed: 0 });
    return { suppressed };
  }
}
