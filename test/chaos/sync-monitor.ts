import type { Redis } from 'ioredis';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';

// Watches the one invariant polygon-ws exists for: the upstream's own record of acknowledged
// subscriptions equals the SET. The scanner rewrites the SET every second, so the two are compared
// as snapshots taken a few milliseconds apart (SMEMBERS, then the simulator's record, which is
// in-process and instant); an equal pair is convergence. An unequal pair right after a scan is
// only the event fast path's few milliseconds, and the next poll clears it; an unreadable SET
// (Redis away) counts as out of sync.

export interface Gap {
  /** Symbols in the SET the upstream has not acknowledged, and acknowledged symbols not in the SET. */
  missing: string[];
  extra: string[];
  setSize: number;
  acknowledged: number;
}

export function gapOf(set: Iterable<string>, acked: ReadonlySet<string>): Gap {
  const want = new Set(set);
  const missing = [...want].filter((s) => !acked.has(s)).sort();
  const extra = [...acked].filter((s) => !want.has(s)).sort();
  return { missing, extra, setSize: want.size, acknowledged: acked.size };
}

interface Waiter {
  since: number;
  resolve: (at: number) => void;
}

export class SyncMonitor {
  /** Longest stretch of unequal (or unreadable) observations, over the whole watch. */
  longestOutOfSyncMs = 0;
  observations = 0;
  private outSince: number | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private waiters: Waiter[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly upstream: () => ReadonlySet<string>,
    private readonly everyMs = 50,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const w of this.waiters.splice(0)) w.resolve(Number.NaN);
  }

  /** Out of sync right now, and since when (null: in sync at the last observation). */
  get outOfSyncSince(): number | null {
    return this.outSince;
  }

  /** The current gap, read once now. Throws when Redis does not answer. */
  async gap(): Promise<Gap> {
    const set = await this.redis.smembers(ACTIVE_TICKERS_KEY);
    return gapOf(set, this.upstream());
  }

  /**
   * Resolves with the time from `since` to the end of the first equal observation that started at
   * or after `since`, or null after `timeoutMs`.
   */
  waitInSync(since: number, timeoutMs: number): Promise<number | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(null);
      }, timeoutMs);
      const waiter: Waiter = {
        since,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(Number.isNaN(at) ? null : at - since);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private async observe(): Promise<{ startedAt: number; endedAt: number; equal: boolean }> {
    const startedAt = Date.now();
    let equal = false;
    try {
      const set = await this.redis.smembers(ACTIVE_TICKERS_KEY);
      const acked = this.upstream();
      equal = set.length === acked.size && set.every((s) => acked.has(s));
    } catch {
      equal = false;
    }
    return { startedAt, endedAt: Date.now(), equal };
  }

  private async run(): Promise<void> {
    while (this.running) {
      const o = await this.observe();
      this.observations++;
      if (o.equal) {
        if (this.outSince !== null) {
          this.longestOutOfSyncMs = Math.max(this.longestOutOfSyncMs, o.endedAt - this.outSince);
          this.outSince = null;
        }
        const ready = this.waiters.filter((w) => o.startedAt >= w.since);
        this.waiters = this.waiters.filter((w) => o.startedAt < w.since);
        for (const w of ready) w.resolve(o.endedAt);
      } else {
        this.outSince ??= o.startedAt;
        this.longestOutOfSyncMs = Math.max(this.longestOutOfSyncMs, o.endedAt - this.outSince);
      }
      await new Promise((r) => setTimeout(r, this.everyMs));
    }
  }
}
