import { CLOSE_CAUSES, type CloseCause, type ConnectionEmitted } from '../machines/connection.machine.js';
import type { ReconcilerEmitted } from '../machines/reconciler.machine.js';
import { AvailabilityMeter, coverageOf, shareOf, type AvailabilityFigures, type CoverageNow } from '../subscriptions/coverage.js';
import { countOf, type SubscriptionBook } from '../subscriptions/subscription-book.js';
import type { Logger } from '../shared/logger.js';
import { counter, gauge, histogram } from '../shared/metrics.js';
import type { LastCloseFigures } from '../services/http-api.js';

// polygon-ws's log lines and metrics, all from events the machines emit and snapshots of the
// reconciler's book; and the lifetime figures (closes by cause and code, coverage, availability)
// that outlive a leader term's actors. One source for each figure: /stats, /metrics and the
// status document read them here.

const closesByCauseTotal = counter<'cause'>('livescan_upstream_closes_total', 'Upstream connections lost, by attributed cause', ['cause']);
const reconnections = counter<'code'>('livescan_upstream_reconnections_total', 'Upstream connections lost', ['code']);
const closes1008 = counter('livescan_upstream_1008_total', 'Upstream closes with code 1008 (policy), max_connections kicks included');
const kicks = counter('livescan_upstream_max_connections_total', 'max_connections statuses received');
const lifetimes = histogram(
  'livescan_upstream_connection_lifetime_seconds',
  'How long each authenticated upstream connection lived',
  [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600],
);
const driftTotal = counter('livescan_reconciler_drift_total', 'Symbols found out of sync by reconciliations');
const correctionsTotal = counter('livescan_reconciler_corrections_total', 'Symbols queued to correct drift');
const reconciliations = counter<'status'>('livescan_reconciliations_total', 'Reconciliations run', ['status']);
const ackedGauge = gauge('livescan_acked_subscriptions', 'Subscriptions the upstream has acknowledged');
const desiredGauge = gauge('livescan_desired_subscriptions', 'Members of polygon_ws:active_tickers at the last read');
const gapGauge = gauge('livescan_subscription_gap', 'Symbols where the SET and the acknowledged subscriptions differ (-1: unknown)');
const coverageGauge = gauge('livescan_subscription_coverage_ratio', 'Share of the SET the upstream has acknowledged now (-1: standby, or the SET never read yet)');
const availabilityGauge = gauge(
  'livescan_subscription_availability_ratio',
  'Seconds in which the whole SET was acknowledged, over the seconds this instance led (-1: not measured yet)',
);
const rateFactorGauge = gauge('livescan_subscribe_rate_factor', 'Flow-control factor of the subscribe rate and burst (1: configured pace)');
const reconcileDuration = histogram(
  'livescan_reconcile_duration_seconds',
  'From the start of a reconciliation (SET read) to its result (diff queued)',
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
);
const liveGauge = gauge('livescan_upstream_live', '1 when the upstream connection is live');

/** Close causes that are the upstream's policy speaking: logged under the seeds' name. */
const POLICY_CAUSES: ReadonlySet<CloseCause> = new Set(['policy', 'sent_burst', 'slow_consumer', 'force_disconnect']);
/** What a close line reports of our own sends before it. */
const SENT_WINDOW_MS = 5_000;

export interface TelemetryFigures {
  reconnections: number;
  reconnectionsLastHour: number;
  closesByCode: Record<string, number>;
  closesByCause: Record<CloseCause, number>;
  maxConnectionsKicks: number;
  lastClose: LastCloseFigures | null;
  /** Null while standing by. */
  coverage: (CoverageNow & { share: number }) | null;
  availability: AvailabilityFigures;
}

export interface PolygonWsTelemetry {
  onConnectionEvent(e: ConnectionEmitted): void;
  /** The connection actor went away with its term: its connection ended without a close event. */
  connectionGone(): void;
  onReconcilerEvent(e: ReconcilerEmitted): void;
  /** Each reconciler snapshot while leading; null when the term ends (standby). */
  onBook(book: SubscriptionBook | null, rateFactor?: number): void;
  /** The connection reached or left `live`. */
  setLive(live: boolean): void;
  /** A reconciliation's SET read starts (its duration ends at the `reconciled` event). */
  readStarted(): void;
  figures(): TelemetryFigures;
}

export function createPolygonWsTelemetry(opts: {
  log: Logger;
  /** What we sent within a window before now (the socket service's memory). */
  recentSends: (windowMs: number) => { messages: number; channels: number };
  /** Monotonic milliseconds. */
  now?: () => number;
}): PolygonWsTelemetry {
  const { log } = opts;
  const now = opts.now ?? (() => performance.now());
  const reconnectTimes: number[] = [];
  const closesByCode: Record<string, number> = {};
  const closesByCause = Object.fromEntries(CLOSE_CAUSES.map((c) => [c, 0])) as Record<CloseCause, number>;
  let reconnectionsTotal = 0;
  let kicksTotal = 0;
  let lastClose: LastCloseFigures | null = null;
  let connectedAt: number | null = null;
  let readStartedAt = 0;
  let lastKnownDesired: number | null = null;
  let lastBook: SubscriptionBook | null = null;
  let coverage: CoverageNow | null = null;
  const meter = new AvailabilityMeter();
  for (const c of CLOSE_CAUSES) closesByCauseTotal.inc({ cause: c }, 0);
  coverageGauge.set(-1);
  availabilityGauge.set(-1);
  rateFactorGauge.set(1);

  const onClose = (e: Extract<ConnectionEmitted, { type: 'disconnected' }>) => {
    const t = now();
    const lifetime = connectedAt === null ? null : (t - connectedAt) / 1000;
    connectedAt = null;
    reconnectTimes.push(Date.now());
    reconnectionsTotal++;
    closesByCode[String(e.code)] = (closesByCode[String(e.code)] ?? 0) + 1;
    closesByCause[e.cause]++;
    closesByCauseTotal.inc({ cause: e.cause });
    reconnections.inc({ code: String(e.code) });
    if (e.code === 1008) closes1008.inc();
    if (lifetime !== null) lifetimes.observe(lifetime);
    const lifetimeSeconds = lifetime === null ? null : Math.round(lifetime * 1000) / 1000;
    lastClose = { at: new Date().toISOString(), cause: e.cause, code: e.code, reason: e.reason, lifetime_seconds: lifetimeSeconds };
    const sent = opts.recentSends(SENT_WINDOW_MS);
    const line = {
      close_code: e.code,
      reason: e.reason,
      cause: e.cause,
      lifetime_seconds: lifetimeSeconds,
      died_young: lifetime !== null && !e.matured,
      sent_last_5s: { messages: sent.messages, channels: sent.channels },
      sent_in_burst_window: e.recentSends,
    };
    // One line per close: the seeds' name for the upstream's policy closes, the seeds' generic one otherwise.
    if (POLICY_CAUSES.has(e.cause)) log.error({ event: 'policy_violation_detected', ...line });
    else log.warn({ event: 'connection_closed', ...line });
  };

  const telemetry: PolygonWsTelemetry = {
    onConnectionEvent(e) {
      switch (e.type) {
        case 'connected':
          connectedAt = now();
          log.info({ event: 'upstream_connected', attempt: e.attempt });
          break;
        case 'disconnected':
          onClose(e);
          break;
        case 'reconnecting':
          log.warn({ event: 'reconnecting', attempt: e.attempt, delay_seconds: e.delay_ms / 1000, kind: e.kind, cause: e.cause });
          break;
        case 'kicked':
          kicks.inc();
          kicksTotal++;
          log.error({
            event: 'upstream_max_connections',
            kicks: e.kicks,
            message: e.message,
            hint: 'another client authenticated with the same API key; waiting before reconnecting so as not to kick it back',
          });
          break;
        case 'auth_failed':
          log.fatal({ event: 'upstream_auth_failed', message: e.message, hint: 'check POLYGON_API_KEY; not retrying until restarted with a valid key' });
          break;
        case 'live':
          log.info({ event: 'upstream_live' });
          break;
        case 'stable':
          log.info({ event: 'connection_stable' });
          break;
      }
    },

    connectionGone() {
      if (connectedAt !== null) lifetimes.observe((now() - connectedAt) / 1000);
      connectedAt = null;
    },

    onReconcilerEvent(e) {
      switch (e.type) {
        case 'reconciled': {
          const r = e.result;
          reconciliations.inc({ status: r.status });
          if (readStartedAt > 0) reconcileDuration.observe((now() - readStartedAt) / 1000);
          if (r.drift > 0) {
            if (r.missing.length > 0) log.info({ event: 'reconciliation_subscribing_missing', count: r.missing.length });
            driftTotal.inc(r.drift);
            correctionsTotal.inc(r.corrections);
            log.warn({ event: 'reconciliation_drift_detected', drift: r.drift, missing: r.missing.slice(0, 50), extra: r.extra.slice(0, 50), desired: r.desired, acknowledged: r.acknowledged });
          } else if (r.status === 'ok' && r.connected) {
            log.info({ event: 'reconciliation_perfect_sync', desired: r.desired, acknowledged: r.acknowledged, in_flight: r.in_flight });
          }
          break;
        }
        case 'resubscribing':
          log.info({ event: 're_subscribing_after_reconnection', tickers_count: e.tickers_count, refreshed_from_set: true });
          break;
        case 'set_missing':
          log.warn({ event: 'active_set_missing', exists: e.exists, hint: 'keeping current subscriptions; believed only after EMPTY_SET_GRACE_MS' });
          break;
        case 'set_empty_accepted':
          log.warn({ event: 'active_set_empty_accepted', unsubscribing: e.unsubscribing });
          break;
        case 'read_failed':
          log.warn({ event: 'reconciliation_read_failed', error: e.error });
          break;
        case 'batch_sent':
          log.debug({ event: 'subscription_batch_sent', action: e.action, count: e.count, pending: e.pending });
          break;
        case 'synced':
          log.info({ event: 'subscriptions_synced', tickers_count: e.tickers_count });
          break;
        case 'hints_ignored':
          log.debug({ event: 'subscription_hints_ignored', reason: e.reason, count: e.count });
          break;
        case 'pace_changed':
          rateFactorGauge.set(e.factor);
          if (e.reason === 'slow_down') {
            log.warn({ event: 'subscribe_rate_lowered', factor: e.factor, burst: e.burst, messages_per_second: e.messages_per_second, why: 'a 1008 close followed a burst of our messages' });
          } else log.info({ event: 'subscribe_rate_recovered', factor: e.factor, burst: e.burst, messages_per_second: e.messages_per_second });
          break;
      }
    },

    onBook(book, rateFactor) {
      if (rateFactor !== undefined) rateFactorGauge.set(rateFactor);
      // Most snapshots change the flow only (a token more): the book's figures stay as they were.
      if (book !== null && book === lastBook) return;
      lastBook = book;
      const t = now();
      if (!book) {
        // Standing by: nothing acknowledged here, and the gap is not ours to know.
        coverage = null;
        meter.pause(t);
        ackedGauge.set(0);
        desiredGauge.set(0);
        gapGauge.set(-1);
        coverageGauge.set(-1);
        return;
      }
      coverage = coverageOf(book, lastKnownDesired);
      if (book.desired !== null && coverage) lastKnownDesired = coverage.desired;
      // Unknown (no read yet) is neither covered nor dark: that time is not measured.
      if (coverage === null) meter.pause(t);
      else {
        meter.start(t, coverage);
        meter.update(t, coverage);
      }
      const acked = countOf(book.acked);
      ackedGauge.set(acked);
      desiredGauge.set(countOf(book.desired));
      // The gap from the coverage pass: wanted and not acknowledged, plus acknowledged and not wanted.
      gapGauge.set(book.desired === null || !coverage ? -1 : coverage.desired - coverage.covered + (acked - coverage.covered));
      coverageGauge.set(coverage === null ? -1 : shareOf(coverage));
      availabilityGauge.set(meter.read(t).availability ?? -1);
    },

    setLive(live) {
      liveGauge.set(live ? 1 : 0);
    },

    readStarted() {
      readStartedAt = now();
    },

    figures() {
      const hourAgo = Date.now() - 3_600_000;
      while (reconnectTimes.length > 0 && (reconnectTimes[0] as number) < hourAgo) reconnectTimes.shift();
      const availability = meter.read(now());
      if (availability.availability !== null) availabilityGauge.set(availability.availability);
      return {
        reconnections: reconnectionsTotal,
        reconnectionsLastHour: reconnectTimes.length,
        closesByCode: { ...closesByCode },
        closesByCause: { ...closesByCause },
        maxConnectionsKicks: kicksTotal,
        lastClose,
        coverage: coverage ? { ...coverage, share: shareOf(coverage) } : null,
        availability,
      };
    },
  };
  return telemetry;
}
