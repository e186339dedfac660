import { DEFAULT_RULES, parseRuleOverrides, type CategoryRules } from '../scanner/categories.js';
import { isLoopback } from '../shared/loopback.js';
import { defaultConnectionSettings as C } from '../machines/connection.machine.js';
import { MAX_CHANNELS_PER_MESSAGE, defaultReconcilerSettings as R } from '../machines/reconciler.machine.js';

// Every environment variable livescan reads is declared here, once: its parser, its default and
// the sentence `--help` prints. Nothing else in src/ reads process.env.

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid configuration: ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: string, name: string) => T;

interface VarSpec<T> {
  readonly parse: Parser<T>;
  readonly default: T;
  readonly help: string;
  /** Secrets are never echoed, not even in a validation error. */
  readonly secret?: boolean;
}

function int(min: number, max: number): Parser<number> {
  return (raw, name) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
    const n = Number(raw.trim());
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

const text: Parser<string> = (raw) => raw.trim();

const secretText: Parser<string> = (raw, name) => {
  const v = raw.trim();
  if (/\s/.test(v)) throw new ConfigError(name, 'must not contain white space');
  return v;
};

function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw, name) => {
    const v = raw.trim() as T;
    if (!values.includes(v)) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
    return v;
  };
}

function url(...protocols: string[]): Parser<string> {
  return (raw, name) => {
    let u: URL;
    try {
      u = new URL(raw.trim());
    } catch {
      // The value may carry a password: never repeat it.
      throw new ConfigError(name, 'is not a valid URL');
    }
    if (!protocols.includes(u.protocol)) {
      // Only a well-known scheme is quoted back: what parsed as one may be the start of a pasted
      // password (`pw:rest`, `pw://host`).
      const known = ['http:', 'https:', 'ws:', 'wss:', 'redis:', 'rediss:', 'ftp:', 'tcp:', 'unix:', 'file:'];
      const got = known.includes(u.protocol) ? ` (got ${u.protocol})` : '';
      throw new ConfigError(name, `must use ${protocols.join(' or ')}${got}`);
    }
    return raw.trim();
  };
}

const bool: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(name, `must be a boolean (1/0, true/false), got "${raw}"`);
};

const HOUR = 3_600_000;

/** A gap in ms, or a range `MIN-MAX` whose every gap is drawn anew (the seeds' storm: 20000-30000). */
export interface MsRange {
  minMs: number;
  maxMs: number;
}

function msRange(min: number, max: number): Parser<MsRange | null> {
  return (raw, name) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(raw);
    if (!m) throw new ConfigError(name, `must be milliseconds (5000) or a range MIN-MAX (20000-30000), got "${raw}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo === 0 && hi === 0) return null;
    if (lo < min || hi > max) throw new ConfigError(name, `must be between ${min} and ${max}, got "${raw.trim()}"`);
    if (hi < lo) throw new ConfigError(name, `range must be MIN-MAX with MIN <= MAX, got "${raw.trim()}"`);
    return { minMs: lo, maxMs: hi };
  };
}

export const ENV = {
  REDIS_URL: {
    parse: url('redis:', 'rediss:'),
    default: '',
    secret: true,
    help: 'Redis to share (redis://[:password@]host:port/db). Empty: start a private redis-server on a free port.',
  },
  REDIS_SENTINELS: {
    parse: (raw: string, name: string): string => {
      for (const part of raw.split(',').map((p) => p.trim())) {
        if (!/^[A-Za-z0-9.\-_]+:\d{1,5}$/.test(part)) throw new ConfigError(name, 'must be a comma list of host:port');
      }
      return raw.trim();
    },
    default: '',
    help: 'Redis Sentinel: comma list of sentinel host:port. Set, the master is found through them (REDIS_URL then gives only password and db).',
  },
  REDIS_SENTINEL_MASTER: { parse: text, default: 'mymaster', help: 'The master name the sentinels monitor.' },
  POLYGON_API_KEY: {
    parse: secretText,
    default: '',
    secret: true,
    help: 'Polygon.io / Massive API key. Empty: run the built-in Polygon simulator and simulated market.',
  },
  POLYGON_WS_URL: {
    parse: url('wss:', 'ws:'),
    default: 'wss://socket.massive.com/stocks',
    help: 'Upstream real-time stocks WebSocket (delayed: wss://delayed.massive.com/stocks).',
  },
  HTTP_PORT: { parse: int(0, 65535), default: 8006, help: 'polygon-ws HTTP API port.' },
  HTTP_HOST: {
    parse: text,
    default: '127.0.0.1',
    help: 'Address the HTTP APIs bind to (loopback unless told otherwise).',
  },
  RECONCILE_INTERVAL_MS: {
    parse: int(1_000, HOUR),
    default: R.intervalMs,
    help: 'How often the reconciler diffs the SET with the acknowledged subscriptions.',
  },
  LOG_LEVEL: {
    parse: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
    default: 'info' as string,
    help: 'pino log level.',
  },
  SUBSCRIBE_BATCH_SIZE: {
    parse: int(1, MAX_CHANNELS_PER_MESSAGE),
    default: R.batchSize,
    help: 'Most channels in one upstream subscribe/unsubscribe message (10,000 stays far below the upstream\'s 1 MB per message).',
  },
  SUBSCRIBE_BURST: {
    parse: int(1, 10_000),
    default: R.flow.burstMessages,
    help: 'Upstream control messages that may go out back to back (a full resubscription of 10,000 tickers is 10 messages).',
  },
  SUBSCRIBE_RATE: {
    parse: int(1, 10_000),
    default: R.flow.messagesPerSecond,
    help: 'Sustained upstream control messages per second once the burst is spent. Both are at least halved after a 1008 that follows a burst of ours, and recover step by step.',
  },
  SUBSCRIBE_MAX_IN_FLIGHT: {
    parse: int(1, 1_000_000),
    default: R.maxInFlight,
    help: 'Most channels sent and not yet acknowledged: acknowledgements come back in bounded bites.',
  },
  SUBSCRIBE_BLAME_WINDOW_MS: {
    parse: int(1, 60_000),
    default: C.burstWindowMs,
    help: 'A bare 1008 this soon after SUBSCRIBE_BLAME_MESSAGES of our control messages is blamed on our sends (and slows them).',
  },
  SUBSCRIBE_BLAME_MESSAGES: {
    parse: int(1, 10_000),
    default: C.burstMessages,
    help: 'How many of our control messages within SUBSCRIBE_BLAME_WINDOW_MS make a burst that a following 1008 is blamed on.',
  },
  SUBSCRIBE_RECOVER_AFTER_MS: {
    parse: int(1, HOUR),
    default: R.flow.recoverAfterMs,
    help: 'Each such quiet period (no close blamed on our sends) gives back 1/8 of the configured subscribe pace.',
  },
  RECONNECT_PROMPT_MS: {
    parse: int(1, 60_000),
    default: C.backoff.baseMs,
    help: 'After a connection that lived, reconnect within a random wait below this; each young death in a row doubles the ceiling.',
  },
  RECONNECT_MAX_MS: {
    parse: int(1, HOUR),
    default: C.backoff.maxMs,
    help: 'Ceiling of the reconnect wait after repeated young deaths or failed connects (at least RECONNECT_PROMPT_MS).',
  },
  YOUNG_DEATH_MS: {
    parse: int(1, HOUR),
    default: C.youngDeathMs,
    help: 'An upstream connection closed sooner than this after auth_success died young: only those escalate the reconnect wait.',
  },
  MAX_CONNECTIONS_WAIT_MS: {
    parse: int(1, HOUR),
    default: C.kickPenaltyMs,
    help: 'Wait after a max_connections kick (another client holds the key), doubled per kick in a row up to 8x, plus up to 50 % jitter.',
  },
  CONNECTION_STABLE_MS: {
    parse: int(1, 24 * HOUR),
    default: C.stableAfterMs,
    help: 'Time live after which max_connections kicks are forgotten.',
  },
  HEARTBEAT_TIMEOUT_MS: {
    parse: int(1_000, HOUR),
    default: C.heartbeatTimeoutMs,
    help: 'Upstream silence (no frame, ping or pong) that declares the connection dead; polygon-ws pings every 25 s.',
  },
  HANDSHAKE_TIMEOUT_MS: {
    parse: int(1_000, HOUR),
    default: C.handshakeTimeoutMs,
    help: 'Time allowed from socket open to auth_success.',
  },
  LEADER_TTL_MS: {
    parse: int(1_000, 10 * 60_000),
    default: 15_000,
    help: 'Lease of the polygon-ws leader of an API key (replicas: one leader holds the upstream). A leader that cannot renew steps down at 3/4 of it; a standby takes over after it expires. Keep it above the upstream\'s dead-client timeout.',
  },
  EMPTY_SET_GRACE_MS: {
    parse: int(0, 24 * HOUR),
    default: R.emptySetGraceMs,
    help: 'How long the SET must stay missing or empty before polygon-ws believes it and unsubscribes everything.',
  },
  AGGREGATES_MAXLEN: {
    parse: int(1_000, 100_000_000),
    default: 100_000,
    help: 'Approximate length bound of stream:realtime:aggregates.',
  },
  POLYGON_WS_CONSUMER: {
    parse: text,
    default: '',
    help: 'Consumer name in polygon_ws_subscriptions_group. Empty: polygon-ws-<host name> (stable across restarts, so its pending entries are read again).',
  },
  ADMIN_TOKEN: {
    parse: secretText,
    default: '',
    secret: true,
    help: 'Bearer token for mutating HTTP endpoints (POST /reconciler/force). Required when HTTP_HOST is not loopback.',
  },
  SCANNER_HTTP_PORT: {
    parse: int(0, 65535),
    default: 8007,
    help: 'Port of /metrics and /health when the scanner runs alone in its process (with another role, that role serves them).',
  },
  SCAN_INTERVAL_MS: { parse: int(500, HOUR), default: 10_000, help: 'How often the scanner ranks the market.' },
  SCANNER_RULES: {
    parse: (raw: string, name: string): CategoryRules => {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch {
        throw new ConfigError(name, 'must be JSON, e.g. {"gapPercent": 5, "limit": 30}');
      }
      try {
        return parseRuleOverrides(v);
      } catch (err) {
        throw new ConfigError(name, err instanceof Error ? err.message : String(err));
      }
    },
    default: DEFAULT_RULES,
    help: 'JSON overrides of the ranking rules and list sizes, e.g. {"gapPercent": 5, "limit": 30, "limits": {"winners": 10}} (rules: README, scanner).',
  },
  SIMULATOR_STORM_MS: {
    parse: msRange(100, HOUR),
    default: null as MsRange | null,
    help: 'Built-in simulator (no POLYGON_API_KEY): close every upstream connection with a bare 1008 every MS, or after gaps drawn in MIN-MAX (the seeds\' storm: 20000-30000). Empty or 0: off.',
  },
  SIMULATOR_DIE_YOUNG_MS: {
    parse: int(0, HOUR),
    default: 0,
    help: 'Built-in simulator: close every connection with a bare 1008 this long after its auth_success (connections that die young). 0: off.',
  },
  SIMULATOR_MAX_MESSAGES_PER_SECOND: {
    parse: int(0, 100_000),
    default: 0,
    help: 'Built-in simulator: close with a bare 1008 a client sending more subscribe/unsubscribe messages than this within 1 s (an undocumented limit, a hypothesis). 0: off.',
  },
  SIMULATOR_KICK_EVERY_MS: {
    parse: int(0, HOUR),
    default: 0,
    help: 'Built-in simulator: a max_connections kick (as if another client took the key) this often. 0: off.',
  },
  SIMULATOR_ACK_DELAY_MS: {
    parse: int(0, 60_000),
    default: 0,
    help: 'Built-in simulator: delay of every subscribe/unsubscribe acknowledgement (slow acks). 0: at once.',
  },
  MARKET_SEED: { parse: int(0, 2 ** 31 - 1), default: 42, help: 'Seed of the simulated market, so a run can be reproduced.' },
  MARKET_SYMBOLS: { parse: int(50, 100_000), default: 3_000, help: 'How many symbols the simulated market trades.' },
  POLYGON_REST_URL: {
    parse: url('https:', 'http:'),
    default: 'https://api.massive.com',
    help: 'Base URL of the upstream REST API (full-market snapshot), used when POLYGON_API_KEY is set.',
  },
  WS_SERVER_PORT: { parse: int(0, 65535), default: 9000, help: 'ws-server port: browser WebSocket at /ws and the dashboard at /.' },
  WS_SERVER_HOST: { parse: text, default: '127.0.0.1', help: 'Address the ws-server binds to.' },
  WS_ALLOWED_ORIGINS: {
    parse: text,
    default: '',
    help: 'Comma-separated Origins allowed to open /ws. Empty: any origin.',
  },
  NODE_ENV: { parse: text, default: '', help: 'production: JSON logs even on a terminal (otherwise a terminal gets pretty logs).' },
  INSPECT: { parse: bool, default: false, help: 'Expose the actor system to the Stately inspector (same as --inspect).' },
  INSPECT_PORT: { parse: int(0, 65535), default: 8010, help: 'Port of the inspector WebSocket server, bound to 127.0.0.1.' },
} satisfies Record<string, VarSpec<unknown>>;

export type EnvName = keyof typeof ENV;
export type Config = { -readonly [K in EnvName]: (typeof ENV)[K]['default'] };

/** Parse every variable; the first bad one throws a ConfigError naming it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV) as [EnvName, VarSpec<unknown>][]) {
    const raw = env[name];
    out[name] = raw === undefined || raw.trim() === '' ? spec.default : spec.parse(raw, name);
  }
  const config = out as Config;
  if (config.RECONNECT_MAX_MS < config.RECONNECT_PROMPT_MS) {
    throw new ConfigError('RECONNECT_MAX_MS', `must not be below RECONNECT_PROMPT_MS (${config.RECONNECT_PROMPT_MS})`);
  }
  // The faults belong to the built-in simulator: with a real key they would silently do nothing.
  const fault = simulatorFaultsOn(config)[0];
  if (fault && config.POLYGON_API_KEY) {
    throw new ConfigError(fault, 'applies to the built-in simulator only: unset POLYGON_API_KEY to run it (the scanner then ranks the simulated market)');
  }
  // A mutating endpoint reachable from the network must not be open to anyone.
  if (!isLoopback(config.HTTP_HOST) && !config.ADMIN_TOKEN) {
    throw new ConfigError('ADMIN_TOKEN', `must be set when HTTP_HOST (${config.HTTP_HOST}) is not loopback`);
  }
  return config;
}

/** The simulator's faults reachable from `node dist/main.js` (README: the storm demo). */
export const SIMULATOR_FAULT_VARS = [
  'SIMULATOR_STORM_MS',
  'SIMULATOR_DIE_YOUNG_MS',
  'SIMULATOR_MAX_MESSAGES_PER_SECOND',
  'SIMULATOR_KICK_EVERY_MS',
  'SIMULATOR_ACK_DELAY_MS',
] as const satisfies readonly EnvName[];

function isFaultOn(config: Config, name: (typeof SIMULATOR_FAULT_VARS)[number]): boolean {
  const v = config[name];
  return v !== null && v !== 0;
}

/** The faults configured, by variable: empty when the simulator is to behave. */
export function simulatorFaultsOn(config: Config): string[] {
  return SIMULATOR_FAULT_VARS.filter((n) => isFaultOn(config, n));
}

/** The lines `--help` prints: name, default, meaning. Secrets show no default. */
export function describeEnv(): string {
  const rows = (Object.entries(ENV) as [EnvName, VarSpec<unknown>][]).map(([name, spec]) => {
    const def =
      spec.secret || spec.default === '' ? '(empty)' : spec.default === null ? '(off)' : typeof spec.default === 'object' ? '(built in)' : String(spec.default);
    return `  ${name.padEnd(24)} default ${def}\n      ${spec.help}`;
  });
  return rows.join('\n');
}

export const SECRET_VARS: readonly EnvName[] = (Object.entries(ENV) as [EnvName, VarSpec<unknown>][])
  .filter(([, s]) => s.secret)
  .map(([n]) => n);
