// Runs the Polygon simulator on its own:
//   node dist/simulator/main.js --port 8765 --close-1008-every 20000
// Point a client at the URL it logs (POLYGON_WS_URL) with one of its API keys.

import { parseArgs } from 'node:util';
import { createLogger } from '../shared/logger.js';
import { startPolygonSimulator, type PolygonSimulatorOptions } from './polygon-simulator.js';

const USAGE = `usage: node dist/simulator/main.js [options]
  --port N                  port on 127.0.0.1 (default 8765; 0 = any free port)
  --host H                  address to bind (default 127.0.0.1)
  --api-key K[,K...]        accepted API keys (default sim-key)
  --close-1008-every MS     close every authenticated connection with 1008 every MS
  --malformed-every MS      send a malformed frame every MS
  --ack-delay MS            delay subscribe/unsubscribe acks by MS
  --drop-acks P             lose each ack with probability P (0..1)
  --aggregate-interval MS   aggregate tick (default 1000)
  --ping-interval MS        server ping period (default 30000)
  --auth-timeout MS         auth deadline (default 5000)
  --max-messages-per-second N  close flooding clients with 1008
  --universe SYM[,SYM...]   symbols streamed to A.* subscribers
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      'close-1008-every': { type: 'string' },
      'malformed-every': { type: 'string' },
      'ack-delay': { type: 'string' },
      'drop-acks': { type: 'string' },
      'aggregate-interval': { type: 'string' },
      'ping-interval': { type: 'string' },
      'auth-timeout': { type: 'string' },
      'max-messages-per-second': { type: 'string' },
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
  const opts: PolygonSimulatorOptions = {
    port: num('port', values.port) ?? 8765,
    host: values.host ?? '127.0.0.1',
    apiKeys,
    logger: log,
  };
  const optional: Partial<PolygonSimulatorOptions> = {
    schedule1008EveryMs: num('close-1008-every', values['close-1008-every'], 1),
    malformedEveryMs: num('malformed-every', values['malformed-every'], 1),
    ackDelayMs: num('ack-delay', values['ack-delay']),
    dropAckProbability: dropAcks,
    aggregateIntervalMs: num('aggregate-interval', values['aggregate-interval']),
    pingIntervalMs: num('ping-interval', values['ping-interval']),
    authTimeoutMs: num('auth-timeout', values['auth-timeout'], 1),
    maxMessagesPerSecond: num('max-messages-per-second', values['max-messages-per-second'], 1),
    universe: list(values.universe),
    seed: num('seed', values.seed),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) Object.assign(opts, { [k]: v });

  const sim = await startPolygonSimulator(opts);
  log.info({
    event: 'simulator_started',
    url: sim.url,
    keys: apiKeys.length,
    close1008EveryMs: opts.schedule1008EveryMs ?? null,
    ackDelayMs: opts.ackDelayMs ?? 0,
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
