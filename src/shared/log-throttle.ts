import { KeyedThrottle } from './keyed-throttle.js';
import type { Logger } from './logger.js';

// A flood of bad input must be visible without flooding the log: the first line of each kind is
// written, then at most one per period, carrying how many were suppressed meanwhile.

export class LogThrottle {
  private readonly throttle: KeyedThrottle;

  constructor(
    private readonly log: Logger,
    periodMs = 10_000,
    now: () => number = Date.now,
  ) {
    this.throttle = new KeyedThrottle({ periodMs, now });
  }

  warn(key: string, fields: Record<string, unknown>): void {
    const pass = this.throttle.pass(key);
    if (!pass) return;
    this.log.warn(pass.suppressed > 0 ? { ...fields, suppressed: pass.suppressed } : fields);
  }
}
