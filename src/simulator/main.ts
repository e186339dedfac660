// Runs the Polygon simulator on its own:
//   node dist/simulator/main.js --port 8765 --close-1008-every 20000
//   node dist/simulator/main.js --strict-provider --observed-lateness   (as close to the real one as it gets)
// Point a client at the URL it logs (POLYGON_WS_URL) with one of its API keys.

import { parseArgs } from 'node:util';
import { createLogger } from '../shared/logger.js';
import { resolveSettings } from './options.js';
import { OBSERVED_LATENESS, startPolygonSimulator, type Lateness, type PolygonSimulatorOptions } from './polygon-simulator.js';

const USAGE = `usage: node dist/simulator/main.js [options]
  --port N                  port on 127.0.0.1 (default 8765; 0 = any free port)
  --host H                  address to bind (default 127.0.0.1)
  --api-key K[,K...]        accepted API keys (default sim-key)
  --close-1008-every MS     close every authenticated connection with 1008 every MS
  --storm-min-ms MS         with --storm-max-ms: the same after gaps drawn (seeded) in
  --storm-max-ms MS           [min, max], e.g. 20000 and 30000 (the seeds' storm)
  --die-young-ms MS         close every connection with 1008 MS after its auth_success
  --malformed-every MS      send a malformed frame every MS (a robustness fault)
  --ack-delay MS            delay subscribe/unsubscribe acks by MS
  --drop-acks P             lose each ack with probability P (0..1) (undocumented)
  --aggregate-interval MS   aggregate tick and A window (default 1000: per second)
  --minute-aggregate-interval MS
                            AM window, sent with LULD and NOI (default 60000: per minute)
  --lateness-min-ms MS      with --lateness-max-ms: aggregates of the window ending at e
  --lateness-max-ms MS        arrive at e + a delay drawn (seeded) in [min, max] (default 0, 0)
  --observed-lateness       the same with the real server's observed ${OBSERVED_LATENESS.minMs} and ${OBSERVED_LATENESS.maxMs}
  --strict-provider         only what the real server does: refuse --malformed-every,
                            --drop-acks and --max-messages-per-second
  --ping-interval MS        server ping period (default 30000)
  --auth-timeout MS         auth deadline (default 5000)
  --max-messages-per-second N  close with a bare 1008 a client whose subscribe/unsubscribe
                            messages exceed N within any 1000 ms (the excess one is not applied;
                            undocumented)
  --first-status S          first status: connected (default) or success (as in the provider's spec)
  --universe SYM[,SYM...]   symbols streamed to X.* subscribers (A.*, T.*, ...)
  --seed N                  random-walk seed (default 42)
  --log-level L             pino level (default info, or LOG_LEVEL)
  --pretty                  human-readable logs`;

function num(name: string, raw: string | undefined, min = 0): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${raw}"`);
  return n;
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return items.length > 0 ? items : undefined;
}

/** --close-1008-every, or the storm's range: one timer, one of the two. */
function scheduleFromArgs(every: string | undefined, min: string | undefined, max: string | undefined): PolygonSimulatorOptions['schedule1008EveryMs'] {
  const every1008 = num('close-1008-every', every, 1);
  const stormMin = num('storm-min-ms', min, 1);
  const stormMax = num('storm-max-ms', max, 1);
  if ((stormMin === undefined) !== (stormMax === undefined)) {
    throw new Error('--storm-min-ms and --storm-max-ms go together');
  }
  if (stormMin !== undefined && stormMax !== undefined && stormMax < stormMin) {
    throw new Error('--storm-max-ms must be >= --storm-min-ms');
  }
  if (stormMin !== undefined && every1008 !== undefined) {
    throw new Error('--close-1008-every and --storm-min-ms/--storm-max-ms are two schedules for one timer: pick one');
  }
  return stormMin !== undefined && stormMax !== undefined ? { minMs: stormMin, maxMs: stormMax } : every1008;
}

/** --lateness-min-ms with --lateness-max-ms, or --observed-lateness, or none. */
function latenessFromArgs(min: string | undefined, max: string | undefined, observed: boolean): Lateness | undefined {
  const lateMin = num('lateness-min-ms', min);
  const lateMax = num('lateness-max-ms', max);
  if ((lateMin === undefined) !== (lateMax === undefined)) {
    throw new Error('--lateness-min-ms and --lateness-max-ms go together');
  }
  if (lateMin !== undefined && lateMax !== undefined && lateMax < lateMin) {
    throw new Error('--lateness-max-ms must be >= --lateness-min-ms');
  }
  if (lateMin !== undefined && observed) {
    throw new Error('--observed-lateness and --lateness-min-ms/--lateness-max-ms are two latenesses: pick one');
  }
  return (
    lateMin !== undefined && lateMax !== undefined
      ? { minMs: lateMin, maxMs: lateMax }
      : observed
        ? { ...OBSERVED_LATENESS }
        : undefined
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      'close-1008-every': { type: 'string' },
      'storm-min-ms': { type: 'string' },
      'storm-max-ms': { type: 'string' },
      'die-young-ms': { type: 'string' },
      'malformed-every': { type: 'string' },
      'ack-delay': { type: 'string' },
      'drop-acks': { type: 'string' },
      'aggregate-interval': { type: 'string' },
      'minute-aggregate-interval': { type: 'string' },
      'lateness-min-ms': { type: 'string' },
      'lateness-max-ms': { type: 'string' },
      'observed-lateness': { type: 'boolean' },
      'strict-provider': { type: 'boolean' },
      'ping-interval': { type: 'string' },
      'auth-timeout': { type: 'string' },
      'max-messages-per-second': { type: 'string' },
      'first-status': { type: 'string' },
      universe: { type: 'string' },
      seed: { type: 'string' },
      'log-level': { type: 'string' },
      pretty: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const apiKeys = list(values['api-key']) ?? ['sim-key'];
  const log = createLogger({
    level: values['log-level'] ?? 'info',
    secrets: apiKeys,
    pretty: values.pretty ?? false,
  });
  const dropAcks = num('drop-acks', values['drop-acks']);
  if (dropAcks !== undefined && dropAcks > 1) throw new Error('--drop-acks must be within 0..1');
  const schedule1008EveryMs = scheduleFromArgs(values['close-1008-every'], values['storm-min-ms'], values['storm-max-ms']);
  const lateness = latenessFromArgs(values['lateness-min-ms'], values['lateness-max-ms'], values['observed-lateness'] ?? false);
  const firstStatus = values['first-status'];
  if (firstStatus !== undefined && firstStatus !== 'connected' && firstStatus !== 'success') {
    throw new Error(`--first-status must be connected or success, got "${firstStatus}"`);
  }
  const opts: PolygonSimulatorOptions = {
    port: num('port', values.port) ?? 8765,
    apiKeys,
    logger: log,
  };
  const optional: Partial<PolygonSimulatorOptions> = {
    host: values.host,
    schedule1008EveryMs,
    dieYoungAfterMs: num('die-young-ms', values['die-young-ms']),
    malformedEveryMs: num('malformed-every', values['malformed-every'], 1),
    ackDelayMs: num('ack-delay', values['ack-delay']),
    dropAckProbability: dropAcks,
    aggregateIntervalMs: num('aggregate-interval', values['aggregate-interval']),
    minuteAggregateIntervalMs: num('minute-aggregate-interval', values['minute-aggregate-interval']),
    lateness,
    strictProvider: values['strict-provider'],
    pingIntervalMs: num('ping-interval', values['ping-interval']),
    authTimeoutMs: num('auth-timeout', values['auth-timeout'], 1),
    maxMessagesPerSecond: num('max-messages-per-second', values['max-messages-per-second'], 1),
    firstStatus,
    universe: list(values.universe),
    seed: num('seed', values.seed),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) Object.assign(opts, { [k]: v });

  const sim = await startPolygonSimulator(opts);
  // The defaults as the simulator applies them: options.ts is their one definition.
  const settings = resolveSettings(opts);
  log.info({
    event: 'simulator_started',
    url: sim.url,
    keys: apiKeys.length,
    close1008EveryMs: settings.schedule1008EveryMs,
    dieYoungAfterMs: settings.dieYoungAfterMs,
    maxMessagesPerSecond: settings.maxMessagesPerSecond,
    firstStatus: settings.firstStatus,
    ackDelayMs: settings.ackDelayMs,
    lateness: settings.lateness,
    strictProvider: settings.strict,
  });

  const statsTimer = setInterval(() => log.info({ event: 'simulator_stats', ...sim.stats() }), 60_000);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(statsTimer);
    log.info({ event: 'simulator_stopping', signal });
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ event: 'simulator_stop_failed', err: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exit(2);
});
