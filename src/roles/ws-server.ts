import type { Config } from '../config/env.js';
import { connectRedis, redisHealth, redisTargetOf } from '../services/redis-connection.js';
import type { Logger } from '../shared/logger.js';
import { CATEGORIES } from '../shared/redis-keys.js';
import { ClientHub } from '../ws-server/client-hub.js';
import { resolveLimits, type WsLimits } from '../ws-server/limits.js';
import { ListStore } from '../ws-server/list-store.js';
import { RankingSync } from '../ws-server/ranking-sync.js';
import { parseAllowedOrigins, startWsHttpServer } from '../ws-server/server.js';
import { startStatusWriter } from '../services/status-writer.js';
import { readServiceStatuses } from '../ws-server/service-status.js';
import { StatusHistory } from '../ws-server/status-history.js';
import { StreamFollower } from '../ws-server/stream-follower.js';
import { aggregatesHandler, rankingHandler } from '../ws-server/stream-handlers.js';

// The ws-server role: reads Redis (category keys, the ranking and aggregate streams) and serves
// browsers. It never writes subscription events; the only key it writes is its own status.

/** How often the heart's history is sampled (polygon-ws rewrites its status every 2 s). */
const HEART_SAMPLE_MS = 2_000;

export interface WsServerDeps {
  config: Config;
  redisUrl: string;
  log: Logger;
  /** Overrides of DEFAULT_WS_LIMITS (tests use small ones). */
  limits?: Partial<WsLimits>;
  /** XREAD BLOCK timeout. */
  blockMs?: number;
  statusIntervalMs?: number;
  /** How long start-up waits for the first bootstrap before serving anyway (Redis may be down). */
  bootstrapWaitMs?: number;
  dashboardDir?: string;
}

export interface WsServerHandle {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startWsServer(deps: WsServerDeps): Promise<WsServerHandle> {
  const { config, log } = deps;
  const limits = resolveLimits(deps.limits);
  const startedAt = new Date();

  let stopping = false;
  const command = connectRedis(redisTargetOf(config, deps.redisUrl), { name: 'livescan-ws-server', purpose: 'commands', log, quiet: () => stopping });
  // Blocking reads get their own connection: the follower checks its position after a failed read.
  const blocking = connectRedis(redisTargetOf(config, deps.redisUrl), { name: 'livescan-ws-server-xread', purpose: 'blocking', log, quiet: () => stopping });

  const store = new ListStore();
  const hub = new ClientHub({ store, limits, log });
  const sync = new RankingSync({ store, redis: command, out: hub, log });
  const follower = new StreamFollower({
    blocking,
    command,
    handlers: [rankingHandler(sync), aggregatesHandler({ redis: command, store, hub, log })],
    log,
    blockMs: deps.blockMs ?? 5_000,
  });

  const lists = () =>
    Object.fromEntries(
      CATEGORIES.map((name) => {
        const l = store.get(name);
        return [name, { sequence: l.sequence, known: l.known, rows: l.rows.length, subscribers: hub.subscriberCount(name) }];
      }),
    );
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const selfStatus = (): Record<string, unknown> => ({
    role: 'ws-server',
    state: follower.state,
    redis: command.status,
    clients: hub.size,
    symbols: store.symbolCount(),
    lists_in_sequence: CATEGORIES.filter((c) => store.get(c).known).length,
    streams: follower.positions(),
    messages_out: sum(hub.stats.messages_out),
    bytes_out: sum(hub.stats.bytes_out),
    drops: hub.stats.drops,
    started_at: startedAt.toISOString(),
    updated_at: new Date().toISOString(),
  });

  // The dashboard's timeline of the heart starts with the last minutes, not empty.
  const heart = new StatusHistory();
  // Every read feeds the history (a document read twice is one sample); the sampler keeps it
  // going when no dashboard asks.
  const readStatus = async () => {
    const report = await readServiceStatuses(command, selfStatus());
    heart.record(report);
    return report;
  };
  const heartSampler = setInterval(() => void readStatus(), HEART_SAMPLE_MS);
  heartSampler.unref();

  follower.start();
  await Promise.race([follower.ready, new Promise((r) => setTimeout(r, deps.bootstrapWaitMs ?? 5_000).unref())]);

  const http = await startWsHttpServer({
    host: config.WS_SERVER_HOST,
    port: config.WS_SERVER_PORT,
    hub,
    limits,
    allowedOrigins: parseAllowedOrigins(config.WS_ALLOWED_ORIGINS),
    log,
    dashboardDir: deps.dashboardDir,
    health: () => {
      const ok = follower.state === 'live' && command.status === 'ready';
      const redis = redisHealth();
      return {
        ok,
        body: {
          // Degraded says something is wrong; redis_unreachable says what.
          status: ok ? 'ok' : redis.reachable ? 'degraded' : 'redis_unreachable',
          ...(redis.reachable ? {} : { redis_where: redis.where, redis_error: redis.error }),
          ...selfStatus(),
          lists: lists(),
          messages_out_by_type: hub.stats.messages_out,
          bytes_out_by_type: hub.stats.bytes_out,
          client_errors: hub.stats.client_errors,
          connections_total: hub.stats.connections,
          // How many times a tick is selected and encoded: one per distinct set of lists watched.
          client_groups: hub.groupCount,
          uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
        },
      };
    },
    status: async () => ({ ...(await readStatus()), history: heart.list() }),
  });

  const statusWriter = startStatusWriter({ redis: command, role: 'ws-server', read: selfStatus, everyMs: deps.statusIntervalMs ?? 5_000, log });

  let stopped: Promise<void> | null = null;
  return {
    port: http.port,
    url: http.url,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        clearInterval(heartSampler);
        statusWriter.stop();
        await http.close();
        await follower.stop();
        command.disconnect();
        log.info({ event: 'ws_server_stopped' });
      })();
      return stopped;
    },
  };
}
