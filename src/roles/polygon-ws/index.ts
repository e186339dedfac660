import { randomBytes, randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { Config } from '../../config/env.js';
import type { ConnectionSettingsInput } from '../../machines/connection.machine.js';
import type { LeaderActor } from '../../machines/leader.machine.js';
import { LEADER_ID, type polygonWsMachine } from '../../machines/polygon-ws.machine.js';
import type { ReconcilerSettingsInput } from '../../machines/reconciler.machine.js';
import { startHttpApi, type PolygonWsView } from '../../services/http-api.js';
import { createLeaderLease } from '../../services/leader-lease.js';
import { connectRedis, redisTargetOf } from '../../services/redis-connection.js';
import { startStatusWriter } from '../../services/status-writer.js';
import type { Logger } from '../../shared/logger.js';
import { withTimeout } from '../../shared/with-timeout.js';
import { createPolygonWsActors, createUpstreamSocket } from './actors.js';
import { createFence } from './fence.js';
import { createFigureBook, socketStatsInto } from './figures.js';
import { createPolygonWsView } from './http-view.js';
import { polygonWsInputOf } from './settings.js';
import { statusDocumentOf } from './status-document.js';
import { createPolygonWsTelemetry } from './telemetry.js';
import { createTerms } from './terms.js';

// Wires the polygon-ws actor system to its real services: Redis (three connections: commands,
// aggregate writes, the blocking event reader), the upstream socket, the HTTP API and the status
// document. Everything it logs comes from events the machines emit (telemetry.ts).

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
  /** Fields added to the status document (the dashboard's: which upstream, each machine's live state). */
  statusExtras?: () => Record<string, unknown>;
}

export interface PolygonWsRole {
  actor: Actor<typeof polygonWsMachine>;
  httpUrl: string;
  view: PolygonWsView;
  stop(): Promise<void>;
}

export async function startPolygonWs(opts: PolygonWsRoleOptions): Promise<PolygonWsRole> {
  const { config, log } = opts;
  const target = redisTargetOf(config, opts.redisUrl);
  const main = connectRedis(target, { name: 'livescan-polygon-ws', purpose: 'commands', log });
  const publisherRedis = connectRedis(target, { name: 'livescan-polygon-ws-aggs', purpose: 'fire-and-forget', log });
  const input = polygonWsInputOf(config, { connection: opts.connection, reconciler: opts.reconciler });
  const { leader } = input;
  const instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const lease = createLeaderLease({ redis: main, apiKey: config.POLYGON_API_KEY, instanceId, ttlMs: leader.ttlMs, safetyMs: leader.safetyMs });
  const fence = createFence(lease);
  const figures = createFigureBook();
  const socketStats = socketStatsInto(figures);

  const terms = createTerms(figures);
  const socket = createUpstreamSocket({
    config,
    log,
    fence,
    publisherRedis,
    stats: socketStats,
    isWanted: terms.wants,
  });
  const telemetry = createPolygonWsTelemetry({ log, figures, instanceId, recentSends: (ms) => socket.recentSends(ms) });
  const { machine, subscriptionEvents } = createPolygonWsActors({
    config,
    log,
    main,
    connectEvents: () => connectRedis(target, { name: 'livescan-polygon-ws-events', purpose: 'blocking', log }),
    fence,
    lease,
    leader,
    socket,
    readStarted: () => telemetry.readStarted(),
  });

  const actor = createActor(machine, { input: { ...input, seed: randomInt(2 ** 31) }, inspect: opts.inspect });
  fence.follow(() => actor.getSnapshot().context.token);
  actor.subscribe({
    next: () => terms.follow(actor.system, telemetry),
    error: (err: unknown) => {
      log.fatal({ event: 'polygon_ws_actor_failed', error: err instanceof Error ? err.message : String(err) });
      opts.onFatal?.(err);
    },
  });
  actor.start();
  (actor.system.get(LEADER_ID) as LeaderActor).on('*', telemetry.onLeaderEvent);
  terms.follow(actor.system, telemetry);

  const view = createPolygonWsView({ terms, figures, socketStats, sendForce: () => actor.send({ type: 'FORCE' }), redis: main });
  const http = await startHttpApi({ view, log, host: config.HTTP_HOST, port: opts.httpPort ?? config.HTTP_PORT, adminToken: config.ADMIN_TOKEN });
  log.info({ event: 'polygon_ws_http_listening', url: http.url });
  const statusWriter = startStatusWriter({
    redis: main,
    role: 'polygon-ws',
    log,
    // The leader's status only: a standby must not overwrite it.
    write: async (key, json, ttlSeconds) => {
      if (fence.token() !== null) await fence.write(main, [['SET', key, json, 'EX', ttlSeconds]]);
    },
    read: () => ({ ...statusDocumentOf(view.status()), ...opts.statusExtras?.() }),
  });

  return {
    actor,
    httpUrl: http.url,
    view,
    async stop() {
      const heldToken = fence.token();
      statusWriter.stop();
      actor.send({ type: 'STOP' });
      actor.stop();
      // The event reader finishes and acknowledges the batch in hand (bounded), then Redis closes.
      await withTimeout(subscriptionEvents.drained(), 5_000, 'draining scanner events').catch((err: Error) =>
        log.warn({ event: 'subscription_events_drain_timeout', error: err.message }),
      );
      // Every step is bounded, and says so when it failed or was cut short: the process's whole stop has
      // 15 s, and a step that hangs (a scrape in flight, a Redis that went away) must not take them.
      const bounded = (what: string, ms: number, p: Promise<unknown>) =>
        withTimeout(p, ms, what).catch((err: unknown) =>
          log.warn({ event: 'polygon_ws_stop_step_failed', step: what, error: err instanceof Error ? err.message : String(err) }),
        );
      await bounded('closing the HTTP API', 3_000, http.app.close());
      // The upstream connection must be gone before the lease is: a standby taking over at once
      // would otherwise meet our socket still open (a max_connections kick).
      await bounded('closing the upstream socket', 2_000, socket.closed());
      // Hand over at once: a standby need not wait for the lease to expire.
      if (heldToken !== null) await bounded('releasing the lease', 1_000, lease.release(heldToken));
      await bounded('closing Redis', 2_000, Promise.allSettled([main.quit(), publisherRedis.quit()]));
      main.disconnect();
      publisherRedis.disconnect();
      log.info({ event: 'polygon_ws_stopped' });
    },
  };
}
