import { CLOSE_CAUSES, type CloseCause, type ConnectionEmitted } from '../../machines/connection.machine.js';
import type { LastCloseFigures } from '../../services/http-api.js';
import type { SocketStats } from '../../services/polygon-socket.js';
import { counter, gauge, histogram } from '../../shared/metrics.js';
import { AvailabilityMeter, coverageOf, shareOf, type AvailabilityFigures, type CoverageNow } from '../../subscriptions/coverage.js';
import { countOf, type SubscriptionBook } from '../../subscriptions/subscription-book.js';

// The figures polygon-ws reports, each counted once: /stats and the status document read them
// here, and the Prometheus series of the same figure is updated in the same step. They outlive a
// leader term: the connection and reconciler actors, and their contexts, go with each term.
// (The process-wide counters of /metrics stay separate from these per-instance totals only because
// a test process may run several instances in turn.)

const closesByCauseTotal = counter<'cause'>('livescan_upstream_closes_total', 'Upstream connections lost, by attributed cause', ['cause']);
const reconnectionsTotal = counter<'code'>('livescan_upstream_reconnections_total', 'Upstream connections lost', ['code']);
const closes1008Total = counter('livescan_upstream_1008_total', 'Upstream closes with code 1008 (policy), max_connections kicks included');
const kicksTotal = counter('livescan_upstream_max_connections_total', 'max_connections statuses received');
const lifetimes = histogram(
  'livescan_upstream_connection_lifetime_seconds',
  'How long each authenticated upstream connection lived',
  [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600],
);
const ackedGauge = gauge('livescan_acked_subscriptions', 'Subscriptions the upstream has acknowledged');
const desiredGauge = gauge('livescan_desired_subscriptions', 'Members of polygon_ws:active_tickers at the last read');
const gapGauge = gauge('livescan_subscription_gap', 'Symbols where the SET and the acknowledged subscriptions differ (-1: unknown)');
const coverageGauge = gauge('livescan_subscription_coverage_ratio', 'Share of the SET the upstream has acknowledged now (-1: standby, or the SET never read yet)');
const availabilityGauge = gauge(
  'livescan_subscription_availability_ratio',
  'Seconds in which the whole SET was acknowledged, over the seconds this instance led (-1: not measured yet)',
);

/** The gauges of the book as it is now (the gap from the coverage pass, not a second walk). */
function publishBook(book: SubscriptionBook, coverage: CoverageNow | null, availability: number | null): void {
  const acked = countOf(book.acked);
  ackedGauge.set(acked);
  desiredGauge.set(countOf(book.desired));
  // Wanted and not acknowledged, plus acknowledged and not wanted.
  gapGauge.set(book.desired === null || !coverage ? -1 : coverage.desired - coverage.covered + (acked - coverage.covered));
  coverageGauge.set(coverage === null ? -1 : shareOf(coverage));
  availabilityGauge.set(availability ?? -1);
}

export type ConnectionClosed = Extract<ConnectionEmitted, { type: 'disconnected' }>;

export interface PolygonWsFigures {
  reconnections: number;
  reconnectionsLastHour: number;
  closesByCode: Record<string, number>;
  closesByCause: Record<CloseCause, number>;
  maxConnectionsKicks: number;
  lastClose: LastCloseFigures | null;
  /** The last error any part reported (socket, connection machine), whichever came last. */
  lastError: string | null;
  /** Null while standing by. */
  coverage: (CoverageNow & { share: number }) | null;
  availability: AvailabilityFigures;
}

export interface FigureBook {
  /** The connection authenticated: its lifetime starts. */
  connected(): void;
  /** Counts a close; answers how long the connection lived since auth (null: it never authenticated). */
  closed(e: ConnectionClosed): { lifetimeSeconds: number | null };
  /** The connection actor went away with its term: its connection ended without a close event. */
  connectionGone(): void;
  kicked(): void;
  noteError(message: string): void;
  /** Each reconciler snapshot while leading; null when the term ends (standby). */
  onBook(book: SubscriptionBook | null): void;
  read(): PolygonWsFigures;
}

export function createFigureBook(opts: { /** Monotonic milliseconds. */ now?: () => number } = {}): FigureBook {
  const now = opts.now ?? (() => performance.now());
  const reconnectTimes: number[] = [];
  const closesByCode: Record<string, number> = {};
  const closesByCause = Object.fromEntries(CLOSE_CAUSES.map((c) => [c, 0])) as Record<CloseCause, number>;
  let reconnections = 0;
  let kicks = 0;
  let lastClose: LastCloseFigures | null = null;
  let lastError: string | null = null;
  let connectedAt: number | null = null;
  let lastKnownDesired: number | null = null;
  let lastBook: SubscriptionBook | null = null;
  let coverage: CoverageNow | null = null;
  const meter = new AvailabilityMeter();
  for (const c of CLOSE_CAUSES) closesByCauseTotal.inc({ cause: c }, 0);
  coverageGauge.set(-1);
  availabilityGauge.set(-1);

  const standingBy = (t: number) => {
    // Nothing acknowledged here, and the gap is not ours to know.
    coverage = null;
    meter.pause(t);
    ackedGauge.set(0);
    desiredGauge.set(0);
    gapGauge.set(-1);
    coverageGauge.set(-1);
  };

  return {
    connected() {
      connectedAt = now();
    },

    closed(e) {
      const lifetime = connectedAt === null ? null : (now() - connectedAt) / 1000;
      connectedAt = null;
      reconnectTimes.push(Date.now());
      reconnections++;
      closesByCode[String(e.code)] = (closesByCode[String(e.code)] ?? 0) + 1;
      closesByCause[e.cause]++;
      closesByCauseTotal.inc({ cause: e.cause });
      reconnectionsTotal.inc({ code: String(e.code) });
      if (e.code === 1008) closes1008Total.inc();
      if (lifetime !== null) lifetimes.observe(lifetime);
      const lifetimeSeconds = lifetime === null ? null : Math.round(lifetime * 1000) / 1000;
      lastClose = { at: new Date().toISOString(), cause: e.cause, code: e.code, reason: e.reason, lifetime_seconds: lifetimeSeconds };
      return { lifetimeSeconds };
    },

    connectionGone() {
      if (connectedAt !== null) lifetimes.observe((now() - connectedAt) / 1000);
      connectedAt = null;
    },

    kicked() {
      kicks++;
      kicksTotal.inc();
    },

    noteError(message) {
      lastError = message;
    },

    onBook(book) {
      // Most snapshots change the flow only (a token more): the book's figures stay as they were.
      if (book !== null && book === lastBook) return;
      lastBook = book;
      const t = now();
      if (!book) return standingBy(t);
      coverage = coverageOf(book, lastKnownDesired);
      if (book.desired !== null && coverage) lastKnownDesired = coverage.desired;
      // Unknown (no read yet) is neither covered nor dark: that time is not measured.
      if (coverage === null) meter.pause(t);
      else {
        meter.start(t, coverage);
        meter.update(t, coverage);
      }
      publishBook(book, coverage, meter.read(t).availability);
    },

    read() {
      const hourAgo = Date.now() - 3_600_000;
      while (reconnectTimes.length > 0 && (reconnectTimes[0] as number) < hourAgo) reconnectTimes.shift();
      const availability = meter.read(now());
      // Read every few seconds by the status writer: keeps the gauge current between book changes.
      if (availability.availability !== null) availabilityGauge.set(availability.availability);
      return {
        reconnections,
        reconnectionsLastHour: reconnectTimes.length,
        closesByCode: { ...closesByCode },
        closesByCause: { ...closesByCause },
        maxConnectionsKicks: kicks,
        lastClose,
        lastError,
        coverage: coverage ? { ...coverage, share: shareOf(coverage) } : null,
        availability,
      };
    },
  };
}

/**
 * The socket service keeps its counts in a SocketStats object and writes each error it meets to
 * its `lastError`: that field is routed into the book, so the last error has one home whoever
 * reported it (the socket, or the connection machine through its snapshots).
 */
export function socketStatsInto(book: FigureBook): SocketStats {
  return {
    messagesIn: 0,
    messagesOut: 0,
    framesRejected: 0,
    get lastError() {
      return book.read().lastError;
    },
    set lastError(message: string | null) {
      if (message !== null) book.noteError(message);
    },
  };
}
