import { pino, type Logger, type LoggerOptions } from 'pino';

// One logger factory for every role. Lines are JSON with an `event` field in snake_case (the
// seeds' names where they have one); secrets are redacted by path and scrubbed by value, so a
// key that leaks into an error message still never reaches a line.

export type { Logger };

const REDACT_PATHS = [
  'apiKey',
  'password',
  'token',
  'adminToken',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.POLYGON_API_KEY',
  'config.REDIS_URL',
  'config.ADMIN_TOKEN',
  'params',
];

export interface LoggerSettings {
  level: string;
  /** Values that must never appear in a line, whatever field carries them. */
  secrets?: readonly string[];
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const secrets = (settings.secrets ?? []).filter((s) => s.length >= 4);
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (secrets.length > 0) {
    // Redaction by path misses a key quoted inside an error message: scrub every value too.
    options.hooks = {
      logMethod(args, method) {
        method.apply(this, args.map((a) => scrub(a, secrets)) as Parameters<typeof method>);
      },
    };
  }
  const logger = settings.pretty
    ? pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } })
    : settings.destination
      ? pino(options, settings.destination as pino.DestinationStream)
      : pino(options);
  if (secrets.length > 0) scrubChildBindings(logger, secrets);
  return logger;
}

/**
 * A child's bindings are serialised once, when it is made, past the logMethod hook (and pino
 * gives children no bindings formatter): scrub them on the way in. Children inherit `child`
 * from their parent, so grandchildren are covered too.
 */
function scrubChildBindings(logger: Logger, secrets: readonly string[]): void {
  const child = logger.child;
  const setBindings = logger.setBindings;
  type Bindings = Parameters<Logger['setBindings']>[0];
  logger.child = function (this: Logger, bindings: Bindings, opts?: Parameters<Logger['child']>[1]) {
    return child.call(this, scrub(bindings, secrets) as Bindings, opts);
  } as Logger['child'];
  logger.setBindings = function (this: Logger, bindings: Bindings) {
    setBindings.call(this, scrub(bindings, secrets) as Bindings);
  };
}

export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function scrub(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  // Deeper than this (or cyclic) the walk stops, but what lies below is still scrubbed, as text.
  if (depth > 4) return scrubText(jsonOrMark(value), secrets);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof URL) return scrubText(value.toString(), secrets);
  if (value instanceof Error) {
    const e = new Error(scrubText(value.message, secrets));
    e.name = value.name;
    e.stack = value.stack ? scrubText(value.stack, secrets) : undefined;
    // Own fields (`code`, `errno`, a `cause`) are what makes an error diagnosable: keep them, scrubbed.
    const fields = e as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) fields[scrubText(k, secrets)] = scrub(v, secrets, depth + 1);
    if (value.cause !== undefined) e.cause = scrub(value.cause, secrets, depth + 1);
    return e;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[scrubText(k, secrets)] = scrub(v, secrets, depth + 1);
  return out;
}

function jsonOrMark(value: object): string {
  try {
    return JSON.stringify(value) ?? '[unserialisable]';
  } catch {
    return '[unserialisable]';
  }
}
