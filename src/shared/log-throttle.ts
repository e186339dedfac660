import { KeyedThrottle } from './keyed-throttle.js';
import type { Logger } from './logger.js';

// A flood of bad input must be visible without flooding the log: the first line of each kind is
// written, then at most one per period, carrying how many were suppressed meanwhile.

/**
 * Warnings that repeat for as long as a condition lasts, each of them already saying what the
 * first said: the logger writes each (per role) at most once per REPEAT_PERIOD_MS, with a
 * `suppressed` count. Lines that are events in their own right (one per close, per failed scan)
 * are not listed.
 */
export const REPEATING_WARNINGS: ReadonlySet<string> = new Set([
  'active_set_missing',
  'leader_lease_error',
  'reconciliation_read_failed',
  'stream_start_failed',
  'subscription_events_read_failed',
]);
export const REPEAT_PERIOD_MS = 30_000;

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
