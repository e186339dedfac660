#!/usr/bin/env node
import { startLivescan, type Livescan } from './app.js';
import { UsageError, helpText, parseArgs } from './cli/args.js';
import { ConfigError, loadConfig } from './config/env.js';
import { createLogger } from './shared/logger.js';

// `node dist/main.js [--role …] [--inspect]`: parse, validate, start, and stop gracefully on
// SIGTERM/SIGINT within a bound (a second signal exits at once).

const SHUTDOWN_BOUND_MS = 15_000;

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
      process.exit(2);
    }
    throw err;
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

  try {
    app = await startLivescan({
      config,
      roles: args.roles,
      log,
      inspect: args.inspect || config.INSPECT,
      onFatal: () => shutdown('actor_failed', 1),
    });
  } catch (err) {
    log.fatal({ event: 'startup_failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  if (stopping) return;
  log.info({ event: 'livescan_started', roles: args.roles, ...app.endpoints });
  if (!process.stdout.isTTY) return;
  process.stdout.write(
    `\nlivescan is running (${args.roles.join(', ')})\n` +
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
