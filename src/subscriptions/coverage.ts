import { countOf, type SubscriptionBook } from './subscription-book.js';

// What a trading desk sees: the share of the wanted tickers the upstream has acknowledged now,
// and over time the share of seconds in which every one of them was. Pure: the caller gives
// the clock, so the same meter measures polygon-ws from inside and a benchmark from outside.

export interface CoverageNow {
  /** Wanted tickers (the SET at the last read; the last known count while it is unknown). */
  desired: number;
  /** Of those, acknowledged by the upstream. */
  covered: number;
}

/**
 * Coverage of a book. Right after a reconnect `desired` is unknown until the SET is read: the
 * count known before stands in for it, since nothing is acknowledged yet anyway. Before any
 * read at all (a SET missing since start, failing reads) nothing is known: null.
 */
export function coverageOf(book: SubscriptionBook, lastKnownDesired: number | null): CoverageNow | null {
  if (book.desired === null) {
    if (lastKnownDesired === null) return null;
    return { desired: lastKnownDesired, covered: Math.min(countOf(book.acked), lastKnownDesired) };
  }
  let desired = 0;
  let covered = 0;
  for (const s in book.desired) {
    desired++;
    if (book.acked[s]) covered++;
  }
  return { desired, covered };
}

/** 1 when nothing is wanted: an empty SET is served in full. */
export function shareOf(c: CoverageNow): number {
  return c.desired === 0 ? 1 : c.covered / c.desired;
}

export interface AvailabilityFigures {
  /** Seconds in which every wanted ticker was acknowledged, over the seconds measured. */
  availability: number | null;
  /** Time-weighted mean of the share covered. */
  meanShare: number | null;
  measuredSeconds: number;
  /** The longest spell not fully covered, in seconds (the current one included). */
  longestDarkSeconds: number;
  /** Seconds since full coverage was lost, or 0 while fully covered. */
  darkForSeconds: number;
}

/** Integrates coverage over time between `start()` and `pause()` (e.g. while this instance leads). */
export class AvailabilityMeter {
  private running = false;
  private since = 0;
  private share = 0;
  private full = false;
  private measuredMs = 0;
  private fullMs = 0;
  private shareMs = 0;
  private darkStart: number | null = null;
  private longestDarkMs = 0;

  start(now: number, c: CoverageNow): void {
    if (this.running) return;
    this.running = true;
    this.since = now;
    this.set(now, c);
  }

  pause(now: number): void {
    if (!this.running) return;
    this.advance(now);
    this.closeDark(now);
    this.running = false;
  }

  update(now: number, c: CoverageNow): void {
    if (!this.running) return;
    this.advance(now);
    this.set(now, c);
  }

  read(now: number): AvailabilityFigures {
    if (this.running) this.advance(now);
    const dark = this.running && this.darkStart !== null ? now - this.darkStart : 0;
    return {
      availability: this.measuredMs > 0 ? this.fullMs / this.measuredMs : null,
      meanShare: this.measuredMs > 0 ? this.shareMs / this.measuredMs : null,
      measuredSeconds: this.measuredMs / 1000,
      longestDarkSeconds: Math.max(this.longestDarkMs, dark) / 1000,
      darkForSeconds: dark / 1000,
    };
  }

  private advance(now: number): void {
    const dt = Math.max(0, now - this.since);
    this.measuredMs += dt;
    if (this.full) this.fullMs += dt;
    this.shareMs += this.share * dt;
    this.since = Math.max(this.since, now);
  }

  private set(now: number, c: CoverageNow): void {
    this.share = shareOf(c);
    this.full = c.covered >= c.desired;
    if (this.full) this.closeDark(now);
    else this.darkStart ??= now;
  }

  private closeDark(now: number): void {
    if (this.darkStart === null) return;
    this.longestDarkMs = Math.max(this.longestDarkMs, now - this.darkStart);
    this.darkStart = null;
  }
}
