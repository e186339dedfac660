import { Redis } from 'ioredis';
import { createActor, fromPromise, type Actor, type ActorOptions } from 'xstate';
import type { Config } from '../config/env.js';
import { connectRedis, redisTargetOf } from '../services/redis-connection.js';
import { withTimeout } from '../shared/with-timeout.js';
import type { BackoffSettings } from '../machines/backoff.js';
import {
  scannerMachine,
  type FetchOutput,
  type PublishInput,
  type PublishOutput,
  type ScannerMachine,
} from '../machines/scanner.machine.js';
import type { CategoryRules } from '../scanner/categories.js';
import type { PersistedScannerState } from '../scanner/cycle-plan.js';
import type { MarketSource } from '../scanner/market-snapshot.js';
import { createCyclePublisher, type CyclePublisherOptions } from '../services/scanner/cycle-publisher.js';
import { createMarketSource } from '../services/scanner/market-source.js';
import { loadScannerState } from '../services/scanner/sequence-store.js';
import type { Logger } from '../shared/logger.js';
import { counter, gauge, histogram } from '../shared/metrics.js';

// The scanner role: the cycle statechart with its real actors (Redis, the market source), its
// log lines and its metrics. Every 10 s (SCAN_INTERVAL_MS) it ranks the market and publishes
// the desired state; see docs/scanner.md.

export interface ScannerDeps {
  config: Config;
  /** A client to use (the caller closes it), or `redisUrl` for a connection the scanner owns. */
  redis?: Redis;
  redisUrl?: string;
  log: Logger;
  /** Default: Polygon's REST snapshot when POLYGON_API_KEY is set, else the simulated market. */
  source?: MarketSource;
  /** Stately inspector (or any inspection observer). */
  inspect?: ActorOptions<ScannerMachine>['inspect'];
  rules?: CategoryRules;
  snapshotEvery?: number;
  backoff?: BackoffSettings;
  publisher?: Omit<CyclePublisherOptions, 'redis'>;
  /** Bound on one Redis stage (load, publish); default max(5 s, SCAN_INTERVAL_MS). */
  redisTimeoutMs?: number;
  now?: () => number;
  /** The root actor failed beyond its own recovery (a bug): the caller decides (exit, restart). */
  onFatal?: (err: unknown) => void;
}

export interface ScannerHandle {
  actor: Actor<ScannerMachine>;
  source: MarketSource;
  /** Start a scan now instead of at the next tick (ignored while a scan is running). */
  scanNow(): void;
  /** Stop scanning; waits for a transaction in flight, so Redis can be closed after. */
  stop(): Promise<void>;
}

const cycleDuration = histogram(
  'livescan_scanner_cycle_duration_seconds',
  'Duration of one scan: fetch, rank and publish.',
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
const cycleFailures = counter('livescan_scanner_cycle_failures_total', 'Scans that failed, by stage.', ['stage']);
const activeTickers = gauge('livescan_scanner_active_tickers', 'Members of polygon_ws:active_tickers as last published.');
const cyclesTotal = counter('livescan_scanner_cycles_total', 'Scans published.');
const subscriptionEvents = counter('livescan_scanner_subscription_events_total', 'Events published to polygon_ws:subscriptions.', ['action']);
const rankingMessages = counter('livescan_scanner_ranking_messages_total', 'Messages published to stream:ranking:deltas.', ['type']);
const rejectedTickers = counter('livescan_scanner_rejected_tickers_total', 'Malformed entries dropped from market snapshots.');

export async function startScanner(deps: ScannerDeps): Promise<ScannerHandle> {
  const { config, log } = deps;
  if (!deps.redis && !deps.redisUrl && !config.REDIS_SENTINELS) throw new Error('startScanner needs redis, redisUrl or REDIS_SENTINELS');
  const redis = deps.redis ?? connectRedis(redisTargetOf(config, deps.redisUrl ?? ''), { name: 'livescan-scanner', purpose: 'commands', log });
  const ownClient = deps.redis ? null : redis;
  const now = deps.now ?? Date.now;
  const source = deps.source ?? createMarketSource(config);
  const redisTimeoutMs = deps.redisTimeoutMs ?? Math.max(5_000, config.SCAN_INTERVAL_MS);
  const publisher = createCyclePublisher({
    redis,
    statusTtlS: Math.ceil((config.SCAN_INTERVAL_MS * 2) / 1000),
    ...deps.publisher,
    statusFields: { interval_ms: config.SCAN_INTERVAL_MS, ...deps.publisher?.statusFields },
  });
  let inFlight: Promise<unknown> | null = null;

  const machine = scannerMachine.provide({
    actors: {
      loadState: fromPromise<PersistedScannerState, void>(() => withTimeout(loadScannerState(redis), redisTimeoutMs, 'reading the scanner state')),
      fetchMarket: fromPromise<FetchOutput, void>(async ({ signal }) => {
        const startedAtMs = now();
        const snapshot = await source.fetch(signal);
        return { snapshot, startedAtMs };
      }),
      publishCycle: fromPromise<PublishOutput, PublishInput>(async ({ input }) => {
        const write = publisher.publish(input.plan, { cycle: input.cycle, durationMs: now() - input.startedAtMs });
        inFlight = write.catch(() => undefined);
        await withTimeout(write, redisTimeoutMs, 'the scan transaction');
        return { finishedAtMs: now() };
      }),
    },
  });

  const actor = createActor(machine, {
    systemId: 'scanner',
    inspect: deps.inspect,
    input: {
      intervalMs: config.SCAN_INTERVAL_MS,
      rules: deps.rules,
      snapshotEvery: deps.snapshotEvery,
      backoff: deps.backoff,
    },
  });

  actor.on('state.loaded', (e) => {
    log.info({ event: 'scanner_state_loaded', sequences: e.sequences, active_tickers: e.active });
  });
  actor.on('cycle.completed', (e) => {
    const s = e.stats;
    cycleDuration.observe(e.durationMs / 1000);
    cyclesTotal.inc();
    activeTickers.set(s.active);
    if (s.subscribes) subscriptionEvents.inc({ action: 'subscribe' }, s.subscribes);
    if (s.unsubscribes) subscriptionEvents.inc({ action: 'unsubscribe' }, s.unsubscribes);
    if (s.snapshots) rankingMessages.inc({ type: 'snapshot' }, s.snapshots);
    if (s.deltas) rankingMessages.inc({ type: 'delta' }, s.deltas);
    if (s.rejected) {
      rejectedTickers.inc(s.rejected);
      log.warn({ event: 'scanner_snapshot_rejected_tickers', count: s.rejected, kept: s.tickers });
    }
    log.info({
      event: 'scanner_cycle_completed',
      cycle: e.cycle,
      duration_ms: Math.round(e.durationMs),
      source: e.source,
      session: e.session,
      tickers: s.tickers,
      active_tickers: s.active,
      snapshots: s.snapshots,
      deltas: s.deltas,
      changes: s.changes,
      subscribes: s.subscribes,
      unsubscribes: s.unsubscribes,
      lists: s.rows,
    });
  });
  actor.on('cycle.failed', (e) => {
    cycleFailures.inc({ stage: e.stage });
    log.warn({
      event: 'scanner_cycle_failed',
      stage: e.stage,
      error: e.message,
      attempt: e.attempt,
      retry_in_ms: e.retryInMs,
    });
    publisher.publishFailure(e).catch(() => undefined);
  });
  actor.subscribe({
    error: (err) => {
      log.error({ event: 'scanner_actor_failed', error: err instanceof Error ? err.message : String(err) });
      deps.onFatal?.(err);
    },
  });

  log.info({ event: 'scanner_starting', source: source.name, interval_ms: config.SCAN_INTERVAL_MS });
  actor.start();

  return {
    actor,
    source,
    scanNow: () => actor.send({ type: 'SCAN_NOW' }),
    async stop() {
      actor.stop();
      if (inFlight) await withTimeout(inFlight, redisTimeoutMs, 'the last scan transaction').catch(() => undefined);
      if (ownClient) await ownClient.quit().catch(() => ownClient.disconnect());
      log.info({ event: 'scanner_stopped' });
    },
  };
}
