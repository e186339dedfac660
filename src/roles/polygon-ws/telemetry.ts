import type { CloseCause, ConnectionEmitted } from '../../machines/connection.machine.js';
import type { LeaderEmitted } from '../../machines/leader.machine.js';
import type { ReconcilerEmitted } from '../../machines/reconciler.machine.js';
import type { Logger } from '../../shared/logger.js';
import { counter, gauge, histogram } from '../../shared/metrics.js';
import type { SubscriptionBook } from '../../subscriptions/subscription-book.js';
import { createActiveSetLog } from './active-set-log.js';
import type { ConnectionClosed, FigureBook } from './figures.js';

// polygon-ws's log lines and per-event metrics, all from events the machines emit and the
// reconciler's snapshots. The figures /stats reports are counted in figures.ts: this file
// hands them each event that counts.

const driftTotal = counter('livescan_reconciler_drift_total', 'Symbols found out of sync by reconciliations');
const correctionsTotal = counter('livescan_reconciler_corrections_total', 'Symbols queued to correct drift');
const reconciliations = counter<'status'>('livescan_reconciliations_total', 'Reconciliations run', ['status']);
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

export interface ReconcilerView {
  book: SubscriptionBook;
  rateFactor: number;
  /** The reconciler's presence region: the SET was found at its last read. */
  setPresent: boolean;
}

export interface PolygonWsTelemetry {
  onConnectionEvent(e: ConnectionEmitted): void;
  /** The connection actor went away with its term. */
  connectionGone(): void;
  /** The connection reached or left `live`. */
  setLive(live: boolean): void;
  onReconcilerEvent(e: ReconcilerEmitted): void;
  /** Each reconciler snapshot while leading; null when the term ends (standby). */
  onReconciler(view: ReconcilerView | null): void;
  /** A reconciliation's SET read starts (its duration ends at the `reconciled` event). */
  readStarted(): void;
  onLeaderEvent(e: LeaderEmitted): void;
}

interface TelemetryDeps {
  log: Logger;
  figures: FigureBook;
  /** What we sent within a window before now (the socket service's memory). */
  recentSends: (windowMs: number) => { messages: number; channels: number };
  /** Named in the `leader_elected` line. */
  instanceId: string;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export function createPolygonWsTelemetry(opts: TelemetryDeps): PolygonWsTelemetry {
  const now = opts.now ?? (() => performance.now());
  const activeSetLog = createActiveSetLog({ log: opts.log });
  let readStartedAt = 0;
  rateFactorGauge.set(1);
  return {
    onConnectionEvent: (e) => logConnectionEvent(opts, e),
    connectionGone: () => opts.figures.connectionGone(),
    setLive(live) {
      liveGauge.set(live ? 1 : 0);
    },
    onReconcilerEvent(e) {
      if (e.type === 'reconciled' && readStartedAt > 0) reconcileDuration.observe((now() - readStartedAt) / 1000);
      if (e.type === 'set_missing') activeSetLog.missing(e.exists);
      else logReconcilerEvent(opts.log, e);
    },
    onReconciler(view) {
      opts.figures.onBook(view?.book ?? null);
      if (!view) return activeSetLog.forget();
      rateFactorGauge.set(view.rateFactor);
      activeSetLog.presence(view.setPresent);
    },
    readStarted() {
      readStartedAt = now();
    },
    onLeaderEvent(e) {
      const { log } = opts;
      if (e.type === 'elected') log.info({ event: 'leader_elected', token: e.token, term: e.term, instance: opts.instanceId });
      else if (e.type === 'deposed') {
        log.warn({ event: 'leader_deposed', token: e.token, reason: e.reason, hint: 'upstream socket closed; back to standby' });
      } else log.warn({ event: 'leader_lease_error', error: e.error });
    },
  };
}

function logConnectionEvent(deps: TelemetryDeps, e: ConnectionEmitted): void {
  const { log, figures } = deps;
  switch (e.type) {
    case 'connected':
      figures.connected();
      log.info({ event: 'upstream_connected', attempt: e.attempt });
      break;
    case 'disconnected':
      logClose(deps, e);
      break;
    case 'reconnecting':
      log.warn({ event: 'reconnecting', attempt: e.attempt, delay_seconds: e.delay_ms / 1000, kind: e.kind, cause: e.cause });
      break;
    case 'kicked':
      figures.kicked();
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
}

/** One line per close: the seeds' name for the upstream's policy closes, the seeds' generic one otherwise. */
function logClose(deps: TelemetryDeps, e: ConnectionClosed): void {
  const { lifetimeSeconds } = deps.figures.closed(e);
  const sent = deps.recentSends(SENT_WINDOW_MS);
  const line = {
    close_code: e.code,
    reason: e.reason,
    cause: e.cause,
    lifetime_seconds: lifetimeSeconds,
    died_young: lifetimeSeconds !== null && !e.matured,
    sent_last_5s: { messages: sent.messages, channels: sent.channels },
    sent_in_burst_window: e.recentSends,
  };
  if (POLICY_CAUSES.has(e.cause)) deps.log.error({ event: 'policy_violation_detected', ...line });
  else deps.log.warn({ event: 'connection_closed', ...line });
}

function logReconcilerEvent(log: Logger, e: Exclude<ReconcilerEmitted, { type: 'set_missing' }>): void {
  switch (e.type) {
    case 'reconciled': {
      const r = e.result;
      reconciliations.inc({ status: r.status });
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
      // The gauge follows the reconciler's snapshots (onReconciler), new terms included.
      if (e.reason === 'slow_down') {
        log.warn({ event: 'subscribe_rate_lowered', factor: e.factor, burst: e.burst, messages_per_second: e.messages_per_second, why: 'a 1008 close followed a burst of our messages' });
      } else log.info({ event: 'subscribe_rate_recovered', factor: e.factor, burst: e.burst, messages_per_second: e.messages_per_second });
      break;
  }
}
