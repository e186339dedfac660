import type { Logger } from '../../shared/logger.js';

// The SET can stay missing for minutes (a stopped scanner) while the reconciler looks for it
// every second or so. Each read's line carries how many reads of this outage found it missing;
// the logger writes a repeating warning like this one once per period (REPEATING_WARNINGS in
// shared/log-throttle.ts), so the log shows the outage's start, a line per period, and here a
// line when the SET is back.

export interface ActiveSetLog {
  /** A read found the SET missing or empty. */
  missing(exists: boolean): void;
  /** The reconciler's view of the SET after each of its snapshots: present or not. */
  presence(present: boolean): void;
  /** The term ended: a later outage is a new one, and this one gets no recovery line. */
  forget(): void;
}

export function createActiveSetLog(opts: { log: Logger; now?: () => number }): ActiveSetLog {
  const now = opts.now ?? Date.now;
  let outage: { since: number; reads: number } | null = null;
  return {
    missing(exists) {
      outage ??= { since: now(), reads: 0 };
      outage.reads++;
      opts.log.warn({
        event: 'active_set_missing',
        exists,
        missing_reads: outage.reads,
        hint: 'keeping current subscriptions; believed only after EMPTY_SET_GRACE_MS',
      });
    },
    presence(present) {
      if (!present || !outage) return;
      opts.log.info({ event: 'active_set_recovered', missing_reads: outage.reads, missing_seconds: Math.round((now() - outage.since) / 100) / 10 });
      outage = null;
    },
    forget() {
      outage = null;
    },
  };
}
