import type { Role } from './cli/args.js';
import { simulatorFaultsOn, type Config } from './config/env.js';
import { startPolygonWs, type PolygonWsRole } from './roles/polygon-ws/index.js';
import { startScanner } from './roles/scanner.js';
import { startWsServer, type WsServerHandle } from './roles/ws-server.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './services/embedded-redis.js';
import { startInspector } from './services/inspector.js';
import { createMarketSource } from './services/scanner/market-source.js';
import { startMetricsServer } from './services/metrics-server.js';
import { redisHealth } from './services/redis-connection.js';
import type { Logger } from './shared/logger.js';
import { tapMarketPrices } from './simulator/market-price-source.js';
import { combineInspectors, createMachineStateRecorder } from './shared/machine-states.js';
import { startPolygonSimulator, type PolygonSimulator, type PolygonSimulatorOptions } from './simulator/polygon-simulator.js';

// Starts the roles asked for in one process, on embedded defaults where configuration is
// missing: a private redis-server without REDIS_URL, the Polygon simulator without
// POLYGON_API_KEY. Stops them in the reverse order: stop taking work first, Redis last.

export const SIMULATOR_API_KEY = 'sim-key';

/** The faults asked of the built-in simulator (SIMULATOR_*), as its options; kicks have their own timer. */
function simulatorFaults(config: Config): Partial<PolygonSimulatorOptions> {
  const storm = config.SIMULATOR_STORM_MS;
  return {
    schedule1008EveryMs: storm === null ? null : storm.minMs === storm.maxMs ? storm.minMs : storm,
    dieYoungAfterMs: config.SIMULATOR_DIE_YOUNG_MS || null,
    maxMessagesPerSecond: config.SIMULATOR_MAX_MESSAGES_PER_SECOND,
    ackDelayMs: config.SIMULATOR_ACK_DELAY_MS,
  };
}

export interface LivescanOptions {
  config: Config;
  roles: readonly Role[];
  log: Logger;
  inspect: boolean;
  /** A role's actor system failed: stop everything and exit non-zero rather than look alive. */
  onFatal?: (err: unknown) => void;
}

export interface Livescan {
  redisUrl: string;
  embeddedRedis: EmbeddedRedis | null;
  simulator: PolygonSimulator | null;
  polygonWs: PolygonWsRole | null;
  wsServer: WsServerHandle | null;
  /** Where to look, for the start-up banner. */
  endpoints: Record<string, string>;
  stop(): Promise<void>;
}

export async function startLivescan(opts: LivescanOptions): Promise<Livescan> {
  const { roles, log } = opts;
  let config = opts.config;
  const stops: (() => Promise<void>)[] = [];
  const endpoints: Record<string, string> = {};
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn({ event: 'shutdown_step_failed', error: err instanceof Error ? err.message : String(err) });
      }
    }
  };

  try {
    let embeddedRedis: EmbeddedRedis | null = null;
    let redisUrl = config.REDIS_URL;
    if (!redisUrl && !config.REDIS_SENTINELS) {
      embeddedRedis = await startEmbeddedRedis();
      redisUrl = embeddedRedis.url;
      stops.push(() => embeddedRedis!.stop());
      log.info({ event: 'embedded_redis_started', url: redisUrl, redis_pid: embeddedRedis.pid, hint: 'set REDIS_URL to share a Redis between processes' });
      endpoints.redis = redisUrl;
    }

    // Demo mode: the simulator trades the very market the scanner ranks.
    const market =
      !config.POLYGON_API_KEY && roles.includes('scanner') && roles.includes('polygon-ws')
        ? tapMarketPrices(createMarketSource(config), config.MARKET_SEED)
        : null;

    let simulator: PolygonSimulator | null = null;
    if (!config.POLYGON_API_KEY && roles.includes('polygon-ws')) {
      simulator = await startPolygonSimulator({
        apiKeys: [SIMULATOR_API_KEY],
        logger: log.child({ component: 'simulator' }),
        priceSource: market?.prices,
        seed: config.MARKET_SEED,
        ...simulatorFaults(config),
      });
      stops.push(() => simulator!.close());
      const sim = simulator;
      if (config.SIMULATOR_KICK_EVERY_MS > 0) {
        const kicks = setInterval(() => sim.kickWithMaxConnections(), config.SIMULATOR_KICK_EVERY_MS);
        stops.push(async () => clearInterval(kicks));
      }
      const faults = simulatorFaultsOn(config);
      config = { ...config, POLYGON_API_KEY: SIMULATOR_API_KEY, POLYGON_WS_URL: simulator.url };
      log.info({ event: 'polygon_simulator_started', url: simulator.url, faults, hint: 'set POLYGON_API_KEY to use the real upstream' });
      endpoints.upstream = `${simulator.url} (simulator${faults.length ? `, faults: ${faults.join(', ')}` : ''})`;
    }

    const inspector = opts.inspect ? await startInspector({ port: config.INSPECT_PORT, log, secrets: [opts.config.POLYGON_API_KEY, config.ADMIN_TOKEN].filter(Boolean) }) : null;
    if (inspector) {
      stops.push(() => inspector.stop());
      endpoints.inspector = inspector.url;
    }
    // Each machine's live state, for the dashboard's diagrams; published with polygon-ws's status.
    const machineStates = createMachineStateRecorder();
    const inspect = combineInspectors(inspector?.inspect, machineStates.observe);

    let polygonWs: PolygonWsRole | null = null;
    if (roles.includes('polygon-ws')) {
      polygonWs = await startPolygonWs({
        config,
        redisUrl,
        log: log.child({ role: 'polygon-ws' }),
        inspect,
        onFatal: opts.onFatal,
        statusExtras: () => ({ upstream: simulator ? 'simulator' : 'polygon', machines: machineStates.states() }),
      });
      stops.push(() => polygonWs!.stop());
      endpoints.polygon_ws_api = polygonWs.httpUrl;
    }

    if (roles.includes('scanner')) {
      // The scanner's market source depends on the configured key, not on the simulator's.
      const scanner = await startScanner({
        config: opts.config,
        redisUrl,
        log: log.child({ role: 'scanner' }),
        inspect,
        source: market?.source,
        rules: config.SCANNER_RULES,
        onFatal: opts.onFatal,
      });
      stops.push(() => scanner.stop());
      if (!roles.includes('polygon-ws') && !roles.includes('ws-server')) {
        // Alone in its process, the scanner still shows its metrics.
        const metrics = await startMetricsServer({
          host: config.HTTP_HOST,
          port: config.SCANNER_HTTP_PORT,
          log,
          health: () => {
            const snap = scanner.actor.getSnapshot();
            const redis = redisHealth();
            // While Redis is away the scanner only backs off: say why, not just `backingOff`.
            const state = !redis.reachable ? 'redis_unreachable' : typeof snap.value === 'string' ? snap.value : JSON.stringify(snap.value);
            return {
              ok: snap.status === 'active' && redis.reachable && state !== 'backingOff',
              detail: { state, last_error: snap.context.lastError, redis: redis.reachable ? 'reachable' : `unreachable at ${redis.where}` },
            };
          },
        });
        stops.push(() => metrics.stop());
        endpoints.scanner_metrics = `${metrics.url}/metrics`;
      }
    }

    let wsServer: WsServerHandle | null = null;
    if (roles.includes('ws-server')) {
      wsServer = await startWsServer({ config, redisUrl, log: log.child({ role: 'ws-server' }) });
      stops.push(() => wsServer!.stop());
      endpoints.dashboard = wsServer.url;
      endpoints.browser_ws = `${wsServer.url.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`;
    }

    return { redisUrl, embeddedRedis, simulator, polygonWs, wsServer, endpoints, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
