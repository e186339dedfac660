import type { Redis } from 'ioredis';
import {
  CATEGORIES,
  categoryKey,
  RANKING_DELTAS_STREAM,
  STREAM_DATA_FIELD,
  type Category,
} from '../../../src/shared/redis-keys.js';
import type { DeltaItem, Row } from '../../../src/ws-server/list-store.js';
import { mulberry32 } from '../../../src/shared/prng.js';
import { diffRows as scannerDiff } from '../../../src/scanner/deltas.js';
import type { RankedRow } from '../../../src/scanner/deltas.js';

export { mulberry32 };

// A stand-in for the scanner, writing what the contract says it writes: each list's key and one
// stream entry per list and scan, in one MULTI. Random but seeded, so a failure can be replayed.


export function symbolName(i: number): string {
  let s = '';
  let n = i;
  do {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s.length < 2 ? `${s}X` : s;
}

/** The real scanner's deltas (src/scanner/deltas.ts), so the ws-server is tested on its format. */
export function diffRows(prev: readonly Row[], next: readonly Row[]): DeltaItem[] {
  return scannerDiff(prev as unknown as RankedRow[], next as unknown as RankedRow[]) as unknown as DeltaItem[];
}

export interface FakeScannerOptions {
  seed?: number;
  universe?: number;
  maxRows?: number;
  /** XADD MAXLEN ~ bound of the deltas stream. */
  maxLen?: number;
}

export class FakeScanner {
  readonly lists = new Map<Category, Row[]>();
  readonly sequence = new Map<Category, number>();
  private readonly rnd: () => number;
  private readonly universe: string[];

  constructor(
    private readonly redis: Redis,
    private readonly opts: FakeScannerOptions = {},
  ) {
    this.rnd = mulberry32(opts.seed ?? 1);
    this.universe = Array.from({ length: opts.universe ?? 120 }, (_, i) => symbolName(i + 30));
    for (const c of CATEGORIES) {
      this.lists.set(c, []);
      this.sequence.set(c, 0);
    }
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)] as T;
  }

  /** The next ranking of a list: most symbols stay, some leave, some arrive, prices move. */
  evolve(prev: readonly Row[]): Row[] {
    const max = this.opts.maxRows ?? 20;
    const kept = prev.filter(() => this.rnd() > 0.2).map((r) => ({ ...r }));
    const target = Math.floor(this.rnd() * (max + 1));
    while (kept.length < target) {
      const sym = this.pick(this.universe);
      if (kept.some((r) => r.symbol === sym)) continue;
      kept.push({
        symbol: sym,
        rank: 0,
        price: Math.round(this.rnd() * 50_000) / 100 + 0.5,
        change_percent: Math.round((this.rnd() * 80 - 40) * 100) / 100,
        volume: Math.floor(this.rnd() * 10_000_000),
        rvol: Math.round(this.rnd() * 5000) / 100,
        market_cap: Math.floor(this.rnd() * 1e10),
      });
    }
    kept.length = Math.min(kept.length, target);
    for (const r of kept) {
      if (this.rnd() < 0.5) r.price = Math.round((r.price as number) * (0.95 + this.rnd() * 0.1) * 100) / 100;
      if (this.rnd() < 0.3) r.volume = (r.volume as number) + Math.floor(this.rnd() * 10_000);
    }
    kept.sort(() => this.rnd() - 0.5);
    kept.forEach((r, i) => (r.rank = i + 1));
    return kept;
  }

  /** One scan: every list evolves, its key is replaced and its delta appended, atomically. */
  async scan(only: readonly Category[] = CATEGORIES): Promise<void> {
    const tx = this.redis.multi();
    const next = new Map<Category, Row[]>();
    for (const c of only) {
      const prev = this.lists.get(c) ?? [];
      const rows = this.evolve(prev);
      next.set(c, rows);
      const seq = (this.sequence.get(c) ?? 0) + 1;
      const deltas = diffRows(prev, rows);
      tx.set(categoryKey(c), JSON.stringify(rows));
      const msg = { type: 'delta', list: c, sequence: seq, deltas, change_count: deltas.length };
      if (this.opts.maxLen) {
        tx.xadd(RANKING_DELTAS_STREAM, 'MAXLEN', '~', this.opts.maxLen, '*', STREAM_DATA_FIELD, JSON.stringify(msg));
      } else {
        tx.xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify(msg));
      }
    }
    const res = await tx.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('scan transaction aborted');
    // Committed only once Redis has it, like a scanner that retries a failed publish.
    for (const [c, rows] of next) {
      this.lists.set(c, rows);
      this.sequence.set(c, (this.sequence.get(c) ?? 0) + 1);
    }
  }

  /** A `snapshot` message of a list (what a scanner may send after its own restart). */
  async publishSnapshot(list: Category): Promise<void> {
    const rows = this.lists.get(list) ?? [];
    const seq = (this.sequence.get(list) ?? 0) + 1;
    await this.redis
      .multi()
      .set(categoryKey(list), JSON.stringify(rows))
      .xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ type: 'snapshot', list, sequence: seq, rows }))
      .exec();
    this.sequence.set(list, seq);
  }

  /** Symbols in at least one list now. */
  symbols(): Set<string> {
    const out = new Set<string>();
    for (const rows of this.lists.values()) for (const r of rows) out.add(r.symbol);
    return out;
  }
}
