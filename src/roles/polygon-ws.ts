import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { randomInt } from 'node:crypto';
import { createActor, fromPromise, type InspectionEvent, type Observer } from 'xstate';
import type { Config } from '../config/env.js';
import type { ConnectionActor, ConnectionSettingsInput } from '../machines/connection.machine.js';
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
  type ReconcilerSettingsInput,
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
import { burstOf, ratePerSecond } from '../subscriptions/flow-control.js';
import { countOf, gapOf } from '../subscriptions/subscription-book.js';
import type { Logger } from '../shared/logger.js';
import { connectionSettingsFromConfig, reconcilerSettingsFromConfig } from './polygon-ws-settings.js';
import { createPolygonWsTelemetry } from './polygon-ws-telemetry.js';

// Wires the polygon-ws actor system to its real services: the upstream socket, Redis (three
// connections: reads of the SET, the blocking event reader, the aggregate writer) and the HTTP
// API. Everything this file logs comes from events the machines emit.

export interface PolygonWsRoleOptions {
  config: Config;
  redisUrl: string;
  log: Logger;
  /** Overrides for tests and benchmarks (faster backoff, smaller penalties). */
  connection?: ConnectionSettingsInput;
  reconciler?: ReconcilerSettingsInput;
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
  let lastError: string | null = null;
  const activeSet = createActiveSet(main, log);

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

  // Lifetime figures (closes, coverage, availability): the machines forget theirs at each term.
  const telemetry = createPolygonWsTelemetry({ log, recentSends: (ms) => socket.recentSends(ms) });

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
            telemetry.readStarted();
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

  const reconcilerSettings = reconcilerSettingsFromConfig(config);
  const actor = createActor(machine, {
    input: {
      connection: { ...connectionSettingsFromConfig(config), ...opts.connection },
      reconciler: {
        ...reconcilerSettings,
        ...opts.reconciler,
        flow: { ...reconcilerSettings.flow, ...opts.reconciler?.flow },
      },
      seed: randomInt(2 ** 31),
      leader: leaderSettings,
    },
    inspect: opts.inspect,
  });

  // The connection and the reconciler exist only while this instance leads: follow them as they
  // come and go with each term.
  const attach = () => {
    const c = (actor.system.get(CONNECTION_ID) as ConnectionActor | undefined) ?? null;
    if (c !== conn) {
      // The last term's error outlives its connection actor.
      if (conn) {
        lastError = conn.getSnapshot().context.lastError ?? lastError;
        telemetry.connectionGone();
      }
      conn = c;
      if (c) {
        c.on('*', telemetry.onConnectionEvent);
        c.subscribe(() => telemetry.setLive(connectionStateName(c) === 'live'));
      } else telemetry.setLive(false);
    }
    const r = (actor.system.get(RECONCILER_ID) as ReconcilerActor | undefined) ?? null;
    if (r !== reconciler) {
      reconciler = r;
      if (!r) telemetry.onBook(null);
      else {
        r.on('*', telemetry.onReconcilerEvent);
        r.subscribe((snap) => telemetry.onBook(snap.context.book, snap.context.flow.factor));
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
      const t = telemetry.figures();
      return {
        state: conn ? connectionStateName(conn) : 'standby',
        acknowledged: r ? countOf(r.book.acked) : 0,
        desired: r?.book.desired ? countOf(r.book.desired) : null,
        gap: r ? gapOf(r.book) : null,
        inFlight: r ? Object.keys(r.book.inFlight).length : 0,
        pending: r ? Object.keys(r.book.pending).length : 0,
        reconciler: r?.metrics ?? emptyReconcilerMetrics,
        lastResult: r?.lastResult ?? null,
        reconnections: t.reconnections,
        reconnectionsLastHour: t.reconnectionsLastHour,
        closesByCode: t.closesByCode,
        closesByCause: t.closesByCause,
        lastClose: t.lastClose,
        maxConnectionsKicks: t.maxConnectionsKicks,
        coverage: t.coverage?.share ?? null,
        availability: t.availability,
        messagesIn: stats.messagesIn,
        messagesOut: stats.messagesOut,
        framesRejected: stats.framesRejected,
        lastError: conn?.getSnapshot().context.lastError ?? lastError ?? stats.lastError,
        flow: r
          ? {
              factor: r.flow.factor,
              burst: burstOf(r.settings.flow, r.flow),
              messagesPerSecond: ratePerSecond(r.settings.flow, r.flow),
              tokens: r.flow.tokens,
            }
          : null,
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
        coverage: s.coverage,
        availability: s.availability.availability,
        longest_dark_seconds: s.availability.longestDarkSeconds,
        // The causes seen so far only: the card stays short while all is well.
        closes_by_cause: Object.fromEntries(Object.entries(s.closesByCause).filter(([, n]) => n > 0)),
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
