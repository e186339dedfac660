import { pino, type Logger, type LoggerOptions } from 'pino';
import { KeyedThrottle } from './keyed-throttle.js';
import { REPEATING_WARNINGS, REPEAT_PERIOD_MS } from './log-throttle.js';

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
  /** The repeat throttle's clock (tests). */
  now?: () => number;
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
  const repeats = new KeyedThrottle({ periodMs: REPEAT_PERIOD_MS, now: settings.now });
  options.hooks = {
    logMethod(args, method) {
      // A warning that repeats while a condition lasts (Redis away, the SET missing) is written
      // once per period per role, with how many were held back.
      const [first] = args as unknown[];
      const event = first !== null && typeof first === 'object' ? (first as { event?: unknown }).event : undefined;
      if (typeof event === 'string' && REPEATING_WARNINGS.has(event)) {
        const pass = repeats.pass(`${event}|${String(this.bindings().role ?? '')}`);
        if (!pass) return;
        if (pass.suppressed > 0) args = [{ ...(first as object), suppressed: pass.suppressed }, ...args.slice(1)] as typeof args;
      }
      // Redaction by path misses a key quoted inside an error message: scrub every value too.
      const out = (secrets.length > 0 ? args.map((a) => scrub(a, secrets)) : args.map(printableCopy)) as typeof args;
      method.apply(this, out as Parameters<typeof method>);
    },
  };
  const logger = settings.pretty
    ? pino({
        ...options,
        // One line per event: a scan's lists or an error's fields on one line, not thirty.
        transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', singleLine: true, messageKey: 'event', errorLikeObjectKeys: ['err'], ignore: 'pid,hostname' } },
      })
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
    return printable(e);
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[scrubText(k, secrets)] = scrub(v, secrets, depth + 1);
  return printable(out);
}

/**
 * An own `toString` that is not a function (parsed JSON can carry one) makes `String(value)` throw,
 * and pino's `%s` calls it: the log call would throw at its caller. A hidden conversion keeps the
 * line; the fields stay as they are.
 */
function printable<T extends object>(value: T): T {
  if (typeof (value as { toString?: unknown }).toString === 'function') return value;
  return Object.defineProperty(value, Symbol.toPrimitive, { value: () => Object.prototype.toString.call(value), enumerable: false });
}

/** `printable` without touching the caller's object: a copy, made only for a value that needs it. */
function printableCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || typeof (value as { toString?: unknown }).toString === 'function') return value;
  return printable(Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as object);
}

function jsonOrMark(value: object): string {
  try {
    return JSON.stringify(value) ?? '[unserialisable]';
  } catch {
    return '[unserialisable]';
  }
}
