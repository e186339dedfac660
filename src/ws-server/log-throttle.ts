import type { Logger } from '../shared/logger.js';

// A flood of bad input must be visible without flooding the log: the first line of each kind is
// written, then at most one per period, carrying how many were suppressed meanwhile.

export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly periodMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, fields: Record<string, unknown>): void {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.periodMs) {
      s.suppressed++;
      return;
    }
    this.last.set(key, { at: t, suppressed: 0 });
    this.log.warn(s && s.suppressed > 0 ? { ...fields, suppressed: s.suppressed } : fields);
  }
}
