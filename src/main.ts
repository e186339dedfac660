#!/usr/bin/env node
import { startLivescan, type Livescan } from './app.js';
import { UsageError, helpText, parseArgs } from './cli/args.js';
import { PortError, checkPorts, plannedPorts } from './cli/port-check.js';
import { ConfigError, loadConfig, simulatorFaultsOn } from './config/env.js';
import { probeRedis, redisHealth, redisTargetOf } from './services/redis-connection.js';
import { createLogger } from './shared/logger.js';

// `node dist/main.js [--role …] [--inspect]`: parse, validate, start, and stop gracefully on
// SIGTERM/SIGINT within a bound (a second signal exits at once).

const SHUTDOWN_BOUND_MS = 15_000;

/** Exit codes: 2 the configuration or arguments are wrong; 3 a port is taken; 1 anything else. */
const EXIT_CONFIG = 2;
const EXIT_PORT_TAKEN = 3;

function redisPassword(url: string): string[] {
  try {
    const u = new URL(url);
    return [decodeURIComponent(u.password)].filter(Boolean);
  } catch {
    return [];
  }
}

async function main(argv: readonly string[]): Promise<void> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`livescan: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (args.help) {
    process.stdout.write(helpText());
    return;
  }

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`livescan: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  const faults = simulatorFaultsOn(config);
  if (faults.length > 0 && !args.roles.includes('polygon-ws')) {
    process.stderr.write(`livescan: ${faults.join(', ')} configure the simulator that polygon-ws starts: add polygon-ws to --role\n`);
    process.exit(EXIT_CONFIG);
  }
  const inspect = args.inspect || config.INSPECT;

  // Before anything starts: a taken port must not leave a redis-server or a simulator behind.
  try {
    await checkPorts(plannedPorts(config, args.roles, inspect));
  } catch (err) {
    if (err instanceof PortError) {
      process.stderr.write(`livescan: ${err.message}\n`);
      process.exit(EXIT_PORT_TAKEN);
    }
    throw err;
  }
  if (args.check) {
    process.stdout.write('livescan: configuration valid, ports free\n');
    return;
  }

  const log = createLogger({
    level: config.LOG_LEVEL,
    secrets: [config.POLYGON_API_KEY, config.ADMIN_TOKEN, ...redisPassword(config.REDIS_URL)],
    pretty: process.stdout.isTTY === true && config.NODE_ENV !== 'production',
  });

  let app: Livescan | null = null;
  let stopping = false;
  const shutdown = (signal: string, exitCode = 0) => {
    if (stopping) {
      log.warn({ event: 'shutdown_forced', signal });
      process.exit(1);
    }
    stopping = true;
    log.info({ event: 'shutdown_started', signal, bound_ms: SHUTDOWN_BOUND_MS });
    const bound = setTimeout(() => {
      log.error({ event: 'shutdown_timed_out', bound_ms: SHUTDOWN_BOUND_MS });
      process.exit(1);
    }, SHUTDOWN_BOUND_MS);
    bound.unref();
    void (app?.stop() ?? Promise.resolve()).then(() => {
      log.info({ event: 'shutdown_complete', exit_code: exitCode });
      clearTimeout(bound);
      process.exit(exitCode);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  if (config.REDIS_URL || config.REDIS_SENTINELS) {
    const why = await probeRedis(redisTargetOf(config, config.REDIS_URL));
    if (why) {
      const where = redisHealth().where;
      log.error({
        event: 'redis_unreachable',
        where,
        error: why,
        hint: `start Redis at ${where}, or fix REDIS_URL (empty: livescan starts a private redis-server); the roles keep retrying`,
      });
    }
  }

  try {
    app = await startLivescan({
      config,
      roles: args.roles,
      log,
      inspect,
      onFatal: () => shutdown('actor_failed', 1),
    });
  } catch (err) {
    log.fatal({ event: 'startup_failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  if (stopping) return;
  const redis = redisHealth();
  log.info({ event: 'livescan_started', roles: args.roles, redis: redis.reachable ? 'reachable' : 'unreachable', ...app.endpoints });
  if (!process.stdout.isTTY) return;
  const headline = redis.reachable
    ? `livescan is running (${args.roles.join(', ')})`
    : `livescan started (${args.roles.join(', ')}) but Redis at ${redis.where} is UNREACHABLE (${redis.error}):\n` +
      `nothing is ranked or subscribed until it answers. Start Redis there, or fix REDIS_URL\n` +
      `(empty: a private redis-server). The roles keep retrying; /health says redis_unreachable.`;
  process.stdout.write(
    `\n${headline}\n` +
      Object.entries(app.endpoints)
        .map(([k, v]) => `  ${k.padEnd(16)} ${v}`)
        .join('\n') +
      '\n  Ctrl-C stops it.\n\n',
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`livescan: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
