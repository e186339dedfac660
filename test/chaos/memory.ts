import { readFileSync } from 'node:fs';

// Resident memory of the role processes, sampled from /proc while the faults run. Samples from the
// first seconds of each incarnation are left out: a process that was just (re)started is still
// loading its modules and growing its heap, which is start-up, not growth.

/** VmRSS of `pid` in bytes, or null when the process is gone (or /proc has no such line). */
export function readRssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface RssTarget {
  name: string;
  pid: number | undefined;
  /** When the current incarnation started (ms since epoch). */
  startedAt: number;
}

export interface RssSample {
  at: number;
  bytes: number;
}

export interface RssSummary {
  name: string;
  samples: number;
  maxBytes: number;
  /** Median of the samples in the first and the last third of the sampling period. */
  firstThirdMedianBytes: number | null;
  lastThirdMedianBytes: number | null;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export class RssSampler {
  private readonly samples = new Map<string, RssSample[]>();
  private timer: NodeJS.Timeout | null = null;
  private firstAt = 0;
  private lastAt = 0;

  constructor(
    private readonly targets: () => readonly RssTarget[],
    private readonly everyMs = 1000,
    private readonly warmupMs = 5000,
  ) {}

  start(): void {
    if (this.timer) return;
    this.firstAt = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    const now = Date.now();
    this.lastAt = now;
    for (const t of this.targets()) {
      if (t.pid === undefined || now - t.startedAt < this.warmupMs) continue;
      const bytes = readRssBytes(t.pid);
      if (bytes === null) continue;
      let list = this.samples.get(t.name);
      if (!list) this.samples.set(t.name, (list = []));
      list.push({ at: now, bytes });
    }
  }

  summary(name: string): RssSummary {
    const list = this.samples.get(name) ?? [];
    const third = (this.lastAt - this.firstAt) / 3;
    const first = list.filter((s) => s.at <= this.firstAt + third).map((s) => s.bytes);
    const last = list.filter((s) => s.at >= this.lastAt - third).map((s) => s.bytes);
    return {
      name,
      samples: list.length,
      maxBytes: list.reduce((m, s) => Math.max(m, s.bytes), 0),
      firstThirdMedianBytes: median(first),
      lastThirdMedianBytes: median(last),
    };
  }
}
