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
  if (settings.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return settings.destination ? pino(options, settings.destination as pino.DestinationStream) : pino(options);
}

export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function scrub(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value, secrets);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const e = new Error(scrubText(value.message, secrets));
    e.name = value.name;
    e.stack = value.stack ? scrubText(value.stack, secrets) : undefined;
    return e;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, secrets, depth + 1);
  return out;
}
