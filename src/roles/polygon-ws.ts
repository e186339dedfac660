import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { createActor, fromPromise, type InspectionEvent, type Observer } from 'xstate';
import type { Config } from '../config/env.js';
import type { ConnectionActor, ConnectionEmitted } from '../machines/connection.machine.js';
import { leaderMachine, type LeaderActor, type LeaderEmitted, type LeaseAnswer } from '../machines/leader.machine.js';
import { LEADER_ID, polygonWsMachine } from '../machines/polygon-ws.machine.js';
import { createLeaderLease, FencedOut, type Command } from '../services/leader-lease.js';
import { SUBSCRIPTIONS_GROUP, SUBSCRIPTIONS_STREAM } from '../shared/redis-keys.js';
import { CONNECTION_ID, RECONCILER_ID } from '../machines/protocol.js';
import {
  emptyReconcilerMetrics,
  reconcilerMachine,
  type ReconcileResult,
  type ReconcilerActor,
  type ReconcilerEmitted,
} from '../machines/reconciler.machine.js';
import { connectionMachine } from '../machines/connection.machine.js';
import { createActiveSet } from '../services/active-set.js';
import { connectRedis, redisTargetOf } from '../services/redis-connection.js';
import { withTimeout } from '../shared/with-timeout.js';
import { createAggregatePublisher } from '../services/aggregate-publisher.js';
import { startHttpApi, type PolygonWsStatus, type PolygonWsView } from '../services/http-api.js';
import { createPolygonSocket, type SocketStats } from '../services/polygon-socket.js';
import { createSubscriptionEvents, readConsumerLag } from '../services/subscription-events.js';
import { startStatusWriter } from '../services/status-writer.js';
import { countOf, gapOf } from '../subscriptions/subscription-book.js';
import type { Logger } from '../shared/logger.js';
import { counter, gauge, histogram } from '../shared/metrics.js';
import type { ConnectionSettings } from '../machines/connection.machine.js';
import type { ReconcilerSettings } from '../machines/reconciler.machine.js';

// Wires the polygon-ws actor system to its real services: the upstream socket, Redis (three
// connections: reads of the SET, the blocking event reader, the aggregate writer) and the HTTP
// API. Everything this file logs comes from events the machines emit.

const reconnections = counter('livescan_upstream_reconnections_total', 'Upstream connections lost', ['code']);
const closes1008 = counter('livescan_upstream_1008_total', 'Upstream closes with code 1008 (policy), max_connections kicks included');
const kicks = counter('livescan_upstream_max_connections_total', 'max_connections statuses received');
const driftTotal = counter('livescan_reconciler_drift_total', 'Symbols found out of sync by reconciliations');
const correctionsTotal = counter('livescan_reconciler_corrections_total', 'Symbols queued to correct drift');
const reconciliations = counter('livescan_reconciliations_total', 'Reconciliations run', ['status']);
const ackedGauge = gauge('livescan_acked_subscriptions', 'Subscriptions the upstream has acknowledged');
const desiredGauge = gauge('livescan_desired_subscriptions', 'Members of polygon_ws:active_tickers at the last read');
const gapGauge = gauge('livescan_subscription_gap', 'Symbols where the SET and the acknowledged subscriptions differ (-1: unknown)');
const reconcileDuration = histogram(
  'livescan_reconcile_duration_seconds',
  'From the start of a reconciliation (SET read) to its result (diff queued)',
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
);
const liveGauge = gauge('livescan_upstream_live', '1 when the upstream connection is live');

export interface PolygonWsRoleOptions {
  config: Config;
  redisUrl: string;
  log: Logger;
  /** Overrides for tests and benchmarks (faster backoff, smaller penalties). */
  connection?: Partial<ConnectionSettings>;
  reconciler?: Partial<ReconcilerSettings>;
  /** The Stately inspector's callback, when --inspect is on. */
  inspect?: Observer<InspectionEvent> | ((ev: InspectionEvent) => void);
  /** Host:port of the HTTP API; port 0 picks a free one. */
  httpPort?: number;
  /** An actor failed with no recovery modelled: the process should stop (main exits non-zero). */
  onFatal?: (err: unknown) => void;
}

export interface PolygonWsRole {
  actor: ReturnType<typeof createActor<typeof polygonWsMachine>>;
  httpUrl: string;
  view: PolygonWsView;
  stop(): Promise<void>;
}

/** The flat state name operators see: idle, connecting, authenticating, syncing, live, backoff… */
export function connectionStateName(conn: ConnectionActor): string {
  const v = conn.getSnapshot().value;
  if (typeof v === 'string') return v;
  const open = (v as { open?: { phase?: string } }).open;
  return open?.phase ?? JSON.stringify(v);
}

export async function startPolygonWs(opts: PolygonWsRoleOptions): Promise<PolygonWsRole> {
  const { config, log } = opts;
  const main = connectRedis(redisTargetOf(config, opts.redisUrl), { name: 'livescan-polygon-ws', purpose: 'commands', log });
  const publisherRedis = connectRedis(redisTargetOf(config, opts.redisUrl), { name: 'livescan-polygon-ws-aggs', purpose: 'fire-and-forget', log });

  const stats: SocketStats = { messagesIn: 0, messagesOut: 0, framesRejected: 0, lastError: null };
  // Lifetime figures: the machines forget theirs at each new term or once stable.
  const reconnectTimes: number[] = [];
  const closesByCode: Record<string, number> = {};
  let reconnectionsTotal = 0;
  let kicksTotal = 0;
  let lastError: string | null = null;
  const activeSet = createActiveSet(main, log);
  let readStartedAt = 0;

  const ttl = config.LEADER_TTL_MS;
  const leaderSettings = {
    ttlMs: ttl,
    renewEveryMs: Math.floor(ttl / 5),
    retryEveryMs: Math.min(1_000, Math.floor(ttl / 5)),
    safetyMs: Math.floor(ttl / 4),
  };
  const lease = createLeaderLease({
    redis: main,
    apiKey: config.POLYGON_API_KEY,
    instanceId: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    ttlMs: ttl,
    safetyMs: leaderSettings.safetyMs,
  });
  // Every write of the leader is fenced by its token: a deposed leader writes nothing.
  const token = (): number | null => actor.getSnapshot().context.token;
  const fenced = (redis: Redis, commands: readonly Command[]): Promise<void> => {
    const t = token();
    return t === null ? Promise.reject(new FencedOut()) : lease.fenced(redis, t, commands);
  };

  let conn: ConnectionActor | null = null;
  let reconciler: ReconcilerActor | null = null;

  const isWanted = (sym: string): boolean => {
    const book = reconciler?.getSnapshot().context.book;
    if (!book) return false;
    return book.desired ? book.desired[sym] === true : book.acked[sym] === true;
  };

  const socket = createPolygonSocket({
    url: config.POLYGON_WS_URL,
    apiKey: config.POLYGON_API_KEY,
    log,
    stats,
    onAggregates: createAggregatePublisher({
      write: (commands) => fenced(publisherRedis, commands),
      maxLen: config.AGGREGATES_MAXLEN,
      isWanted,
      log,
    }),
  });

  const subscriptionEvents = createSubscriptionEvents({
    connect: () => connectRedis(redisTargetOf(config, opts.redisUrl), { name: 'livescan-polygon-ws-events', purpose: 'blocking', log }),
    ack: (redis, ids) => fenced(redis, [['XACK', SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, ...ids]]),
    activeSet,
    consumer: config.POLYGON_WS_CONSUMER || `polygon-ws-${hostname()}`,
    log,
  });

  const machine = polygonWsMachine.provide({
    actors: {
      connection: connectionMachine.provide({ actors: { socket: socket.logic } }),
      reconciler: reconcilerMachine.provide({
        actors: {
          readDesired: fromPromise(() => {
            readStartedAt = performance.now();
            return activeSet.read();
          }),
        },
      }),
      subscriptionEvents: subscriptionEvents.logic,
      leader: leaderMachine.provide({
        actors: {
          // Bounded: a half-open connection must not leave the election hanging (the deadline
          // still protects a term whatever the renewal does).
          acquireLease: fromPromise(() => withTimeout(lease.acquire(), leaderSettings.renewEveryMs, 'acquiring the lease')),
          renewLease: fromPromise<LeaseAnswer, { token: number }>(({ input }) =>
            withTimeout(lease.renew(input.token), leaderSettings.renewEveryMs, 'renewing the lease'),
          ),
        },
      }),
    },
  });

  const actor = createActor(machine, {
    input: {
      connection: opts.connection,
      reconciler: {
        intervalMs: config.RECONCILE_INTERVAL_MS,
        batchSize: config.SUBSCRIBE_BATCH_SIZE,
        paceMs: config.SUBSCRIBE_PACE_MS,
        emptySetGraceMs: config.EMPTY_SET_GRACE_MS,
        ...opts.reconciler,
      },
      leader: leaderSettings,
    },
    inspect: opts.inspect,
  });

  const onConnectionEvent = (e: ConnectionEmitted) => {
    switch (e.type) {
      case 'connected':
        log.info({ event: 'upstream_connected', attempt: e.attempt, pace_multiplier: e.paceMultiplier });
        break;
      case 'disconnected':
        reconnectTimes.push(Date.now());
        reconnectionsTotal++;
        closesByCode[String(e.code)] = (closesByCode[String(e.code)] ?? 0) + 1;
        reconnections.inc({ code: String(e.code) });
        if (e.code === 1008) closes1008.inc();
        if (e.cause === 'policy' || e.cause === 'dropped') log.error({ event: 'policy_violation_detected', code: e.code, reason: e.reason });
        else log.warn({ event: 'upstream_disconnected', code: e.code, reason: e.reason, cause: e.cause });
        break;
      case 'reconnecting':
        log.warn({ event: 'reconnecting', attempt: e.attempt, delay_seconds: e.delay_ms / 1000, kind: e.kind });
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
        liveGauge.set(1);
        log.info({ event: 'upstream_live' });
        break;
      case 'stable':
        log.info({ event: 'connection_stable' });
        break;
    }
    if (e.type !== 'live') liveGauge.set(conn && connectionStateName(conn) === 'live' ? 1 : 0);
  };

  const onReconcilerEvent = (e: ReconcilerEmitted) => {
    switch (e.type) {
      case 'reconciled': {
        const r = e.result;
        reconciliations.inc({ status: r.status });
        if (readStartedAt > 0) reconcileDuration.observe((performance.now() - readStartedAt) / 1000);
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
    }
  };

  // The connection and the reconciler exist only while this instance leads: follow them as they
  // come and go with each term.
  const attach = () => {
    const c = (actor.system.get(CONNECTION_ID) as ConnectionActor | undefined) ?? null;
    if (c !== conn) {
      // The last term's error outlives its connection actor.
      if (conn) lastError = conn.getSnapshot().context.lastError ?? lastError;
      conn = c;
      if (c) c.on('*', onConnectionEvent);
      else liveGauge.set(0);
    }
    const r = (actor.system.get(RECONCILER_ID) as ReconcilerActor | undefined) ?? null;
    if (r !== reconciler) {
      reconciler = r;
      if (!r) {
        // Standing by: nothing acknowledged here, and the gap is not ours to know.
        ackedGauge.set(0);
        desiredGauge.set(0);
        gapGauge.set(-1);
      }
      if (r) {
        r.on('*', onReconcilerEvent);
        r.subscribe((snap) => {
          const book = snap.context.book;
          ackedGauge.set(countOf(book.acked));
          desiredGauge.set(countOf(book.desired));
          gapGauge.set(gapOf(book) ?? -1);
        });
      }
    }
  };

  actor.subscribe({
    next: attach,
    error: (err: unknown) => {
      log.fatal({ event: 'polygon_ws_actor_failed', error: err instanceof Error ? err.message : String(err) });
      opts.onFatal?.(err);
    },
  });
  actor.start();
  (actor.system.get(LEADER_ID) as LeaderActor).on('*', (e: LeaderEmitted) => {
    if (e.type === 'elected') log.info({ event: 'leader_elected', token: e.token, term: e.term, instance: lease.instanceId });
    else if (e.type === 'deposed') {
      log.warn({ event: 'leader_deposed', token: e.token, reason: e.reason, hint: 'upstream socket closed; back to standby' });
    } else log.warn({ event: 'leader_lease_error', error: e.error });
  });
  attach();

  const view: PolygonWsView = {
    status(): PolygonWsStatus {
      const r = reconciler?.getSnapshot().context;
      const hourAgo = Date.now() - 3_600_000;
      while (reconnectTimes.length > 0 && (reconnectTimes[0] as number) < hourAgo) reconnectTimes.shift();
      return {
        state: conn ? connectionStateName(conn) : 'standby',
        acknowledged: r ? countOf(r.book.acked) : 0,
        desired: r?.book.desired ? countOf(r.book.desired) : null,
        gap: r ? gapOf(r.book) : null,
        inFlight: r ? Object.keys(r.book.inFlight).length : 0,
        pending: r ? Object.keys(r.book.pending).length : 0,
        reconciler: r?.metrics ?? emptyReconcilerMetrics,
        lastResult: r?.lastResult ?? null,
        reconnections: reconnectionsTotal,
        reconnectionsLastHour: reconnectTimes.length,
        closesByCode: { ...closesByCode },
        maxConnectionsKicks: kicksTotal,
        messagesIn: stats.messagesIn,
        messagesOut: stats.messagesOut,
        framesRejected: stats.framesRejected,
        lastError: conn?.getSnapshot().context.lastError ?? lastError ?? stats.lastError,
        paceMultiplier: r?.paceMultiplier ?? 1,
      };
    },
    subscriptions: () => (reconciler ? Object.keys(reconciler.getSnapshot().context.book.acked).sort() : []),
    force(): Promise<ReconcileResult> {
      const rec = reconciler;
      if (!rec) return Promise.reject(new Error('standby: this instance is not the leader'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          sub.unsubscribe();
          reject(new Error('reconciliation did not complete within 15 s'));
        }, 15_000);
        const sub = rec.on('reconciled', (e) => {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(e.result);
        });
        actor.send({ type: 'FORCE' });
      });
    },
    // Bounded: /stats must answer during a Redis outage, when it matters most.
    consumerLag: () => withTimeout(readConsumerLag(main), 1_000, 'consumer lag').catch(() => null),
  };

  const http = await startHttpApi({
    view,
    log,
    host: config.HTTP_HOST,
    port: opts.httpPort ?? config.HTTP_PORT,
    adminToken: config.ADMIN_TOKEN,
  });
  log.info({ event: 'polygon_ws_http_listening', url: http.url });

  const statusWriter = startStatusWriter({
    redis: main,
    role: 'polygon-ws',
    log,
    // The leader's status only: a standby must not overwrite it.
    write: async (key, json, ttlSeconds) => {
      if (token() !== null) await fenced(main, [['SET', key, json, 'EX', ttlSeconds]]);
    },
    read: () => {
      const s = view.status();
      return {
        state: s.state,
        gap: s.gap,
        desired: s.desired,
        acknowledged: s.acknowledged,
        last_reconciliation: s.reconciler.last_reconciliation,
        reconnections: s.reconnections,
        close_1008_count: s.closesByCode['1008'] ?? 0,
        max_connections_kicks: s.maxConnectionsKicks,
      };
    },
  });

  return {
    actor,
    httpUrl: http.url,
    view,
    async stop() {
      const heldToken = token();
      statusWriter.stop();
      actor.send({ type: 'STOP' });
      actor.stop();
      // The event reader finishes and acknowledges the batch in hand (bounded), then Redis closes.
      await withTimeout(subscriptionEvents.drained(), 5_000, 'draining scanner events').catch((err: Error) =>
        log.warn({ event: 'subscription_events_drain_timeout', error: err.message }),
      );
      await http.app.close();
      // The upstream connection must be gone before the lease is: a standby taking over at once
      // would otherwise meet our socket still open (a max_connections kick).
      await withTimeout(socket.closed(), 2_000, 'closing the upstream socket').catch(() => undefined);
      // Hand over at once: a standby need not wait for the lease to expire.
      if (heldToken !== null) await withTimeout(lease.release(heldToken), 1_000, 'releasing the lease').catch(() => undefined);
      await Promise.allSettled([main.quit(), publisherRedis.quit()]);
      log.info({ event: 'polygon_ws_stopped' });
    },
  };
}
