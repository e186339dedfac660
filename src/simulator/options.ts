// The simulator's options: what each one means, which the real server shows and which it never
// does (ROBUSTNESS_FAULTS), their defaults, and the checks that refuse a bad one before any port
// is bound.

import { pino } from 'pino';
import type { Logger } from '../shared/logger.js';
import { randomWalkPriceSource, type PriceSource } from './aggregate-source.js';

/** 'all' (every live connection the fault applies to) or one connection id. */
export type Target = 'all' | string;

/** A jittered schedule: each gap drawn uniformly in [minMs, maxMs] (the seeds' storm: every 20-30 s). */
export interface Schedule1008Range {
  minMs: number;
  maxMs: number;
}

/** The provider documents `connected` but its machine-readable spec shows `success`: clients must take either. */
export type FirstStatus = 'connected' | 'success';

/** When aggregates are delivered: a delay after their window's end, drawn (seeded) in [minMs, maxMs]. */
export interface Lateness {
  minMs: number;
  maxMs: number;
}

/** What the real server is observed to do: an `A` event arrives a second or two after its `e`. */
export const OBSERVED_LATENESS: Readonly<Lateness> = Object.freeze({ minMs: 1000, maxMs: 2000 });

/**
 * The options (and the methods that set them at run time) that make the simulator do what the
 * real server has never been documented or observed to do. `strictProvider` refuses every one:
 * - `malformedEveryMs` / `sendMalformed` / `setMalformedEvery`: robustness faults (invalid JSON, a
 *   frame that is not an array, an `A` event with a bad field, an unknown event type). They test a
 *   client's parser, not its dealings with the provider.
 * - `dropAckProbability` / `dropAcks`: an undocumented hypothesis (over a live TCP connection a
 *   lost ack would be a server bug nobody has reported).
 * - `maxMessagesPerSecond` / `setMaxMessagesPerSecond`: an undocumented hypothesis (the provider
 *   documents no rate limit on control messages; the only recorded 1008 cause is max_connections).
 * Everything else is the real server's behaviour, documented or observed: auth success, failure
 * and timeout; both first statuses; per-channel acks, slow ones included; max_connections kicks;
 * bare 1008 closes on demand, on a schedule, or at an age; slow_consumer and force_disconnect
 * drops; pings and dead-peer drops; lateness. Silent mode is a network failure (a half-open
 * socket) rather than server behaviour, and stays available.
 */
export const ROBUSTNESS_FAULTS = ['malformedEveryMs', 'dropAckProbability', 'maxMessagesPerSecond'] as const;

export interface PolygonSimulatorOptions {
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Keys that authenticate. Default ['sim-key']. */
  apiKeys?: readonly string[];
  /** No auth within this → status error "No authentication request received." and close 1008. Default 5000. Real server. */
  authTimeoutMs?: number;
  /** Delay of every subscribe/unsubscribe ack ("slow acks"). Default 0. Real server (acks are not instant). */
  ackDelayMs?: number;
  /**
   * Probability (0..1) that one channel's ack is lost; the server still applies the change.
   * Default 0. Undocumented hypothesis: refused by `strictProvider`.
   */
  dropAckProbability?: number;
  /**
   * The market ticks on this grid: every tick closes the window [e - aggregateIntervalMs, e) (e on
   * the grid, so whole seconds by default) and sends its `T` and `Q` events, then its `A` events.
   * An `A` event's e - s is this interval: the window it claims to cover is the one it was built
   * from, so consecutive windows tile time with neither gap nor overlap and `av` counts each trade
   * once. The protocol's `A` is per second: keep the default (1000) for anything but tests, which
   * may shorten it to compress time. Default 1000; 0 stops the market (no data on any channel).
   */
  aggregateIntervalMs?: number;
  /**
   * `AM` windows: [e - minuteAggregateIntervalMs, e) with e on this grid, folded from the ticks
   * whose window starts in it, sent when the tick that reaches e closes (so it should be a
   * multiple of aggregateIntervalMs). `LULD` and `NOI` ride on the same close. Default 60000 (the
   * protocol's minute; e - s = 60000); tests may shorten it. 0 sends no AM, LULD or NOI. The market
   * only trades symbols someone streams: a symbol first asked for mid-minute gets an AM of the
   * seconds since.
   */
  minuteAggregateIntervalMs?: number;
  /**
   * Aggregates (`A`, `AM`) of the window ending at e are delivered at e + a delay drawn with the
   * seeded PRNG in [minMs, maxMs], never before an earlier window's. The real server is observed a
   * second or two late, jittered (OBSERVED_LATENESS). Default { minMs: 0, maxMs: 0 }: delivered as
   * the window closes, which keeps tests fast. `T`, `Q`, `LULD` and `NOI` are not delayed: the real
   * server streams them as they happen (the simulator, at the close of their window).
   */
  lateness?: Lateness;
  /** Where prices come from; default a seeded random walk per symbol. */
  priceSource?: PriceSource;
  /** Seed of the built-in random walk, of the lost-ack draws, of the storm's gaps, of the lateness jitter and of trade/quote details. Default 42. */
  seed?: number;
  /** The symbols `X.*` streams for every prefix X (besides the connection's own subscriptions). Default none. */
  universe?: readonly string[];
  /** The server pings every connection this often. Default 30000; 0 never. Real server. */
  pingIntervalMs?: number;
  /**
   * Close every live authenticated connection with a bare 1008 this often: a fixed interval, or a
   * range whose every gap is drawn anew with the seeded PRNG. Default off. Real server (observed storms).
   */
  schedule1008EveryMs?: number | Schedule1008Range | null;
  /** Every connection is closed with a bare 1008 this many ms after its auth_success. Default off (null). Real server (bare 1008s). */
  dieYoungAfterMs?: number | null;
  /**
   * Send a malformed frame (kinds in turn) to every live authenticated connection this often.
   * Default off. A robustness fault, never the real server's: refused by `strictProvider`.
   */
  malformedEveryMs?: number | null;
  /**
   * An unannounced limit: a subscribe/unsubscribe message that would make more than this many within
   * the last 1000 ms on its connection is not applied, and the connection is closed with a bare 1008.
   * Auth and malformed frames never count. Default off (0). Undocumented hypothesis: refused by `strictProvider`.
   */
  maxMessagesPerSecond?: number;
  /** The status of the first frame. Default 'connected'. Real server (the spec shows 'success'). */
  firstStatus?: FirstStatus;
  /** A connection whose unsent buffer exceeds this many bytes is dropped as a slow consumer. Default off (0). Real server. */
  slowConsumerBytes?: number;
  /**
   * Speak only as the provider is documented or observed to: every option and method of
   * ROBUSTNESS_FAULTS is refused (the constructor or the method throws). Default false.
   */
  strictProvider?: boolean;
  /** How many client messages `clientMessages()` keeps. Default 100000. */
  clientMessageLogSize?: number;
  /** Default: a silent logger. API keys never reach it. */
  logger?: Logger;
}

/** The options with their defaults applied and checked: what the simulator's parts are built from. */
export interface SimulatorSettings {
  host: string;
  port: number;
  apiKeys: ReadonlySet<string>;
  authTimeoutMs: number;
  strict: boolean;
  aggregateIntervalMs: number;
  minuteIntervalMs: number;
  lateness: Lateness;
  pingIntervalMs: number;
  /** As given: the fault setters normalise them (the same setters as at run time). */
  ackDelayMs: number;
  dropAckProbability: number;
  maxMessagesPerSecond: number;
  dieYoungAfterMs: number | null;
  schedule1008EveryMs: number | Schedule1008Range | null;
  malformedEveryMs: number | null;
  firstStatus: FirstStatus;
  slowConsumerBytes: number;
  clientLogSize: number;
  priceSource: PriceSource;
  universe: readonly string[];
  seed: number;
  log: Logger;
}

/** Throws on a refused or malformed option, before anything is bound. */
export function resolveSettings(opts: PolygonSimulatorOptions): SimulatorSettings {
  const strict = opts.strictProvider ?? false;
  if (strict) {
    if ((opts.malformedEveryMs ?? 0) > 0) refuseInStrictMode('malformedEveryMs');
    if ((opts.dropAckProbability ?? 0) > 0) refuseInStrictMode('dropAckProbability');
    if ((opts.maxMessagesPerSecond ?? 0) > 0) refuseInStrictMode('maxMessagesPerSecond');
  }
  const lateness = { ...(opts.lateness ?? { minMs: 0, maxMs: 0 }) };
  checkLateness(lateness);
  const schedule = opts.schedule1008EveryMs ?? null;
  if (typeof schedule === 'object' && schedule !== null) checkStormRange(schedule);
  const seed = opts.seed ?? 42;
  return {
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    apiKeys: new Set(opts.apiKeys ?? ['sim-key']),
    authTimeoutMs: opts.authTimeoutMs ?? 5000,
    strict,
    ackDelayMs: opts.ackDelayMs ?? 0,
    dropAckProbability: opts.dropAckProbability ?? 0,
    aggregateIntervalMs: Math.max(0, opts.aggregateIntervalMs ?? 1000),
    minuteIntervalMs: Math.max(0, opts.minuteAggregateIntervalMs ?? 60_000),
    lateness,
    pingIntervalMs: opts.pingIntervalMs ?? 30_000,
    maxMessagesPerSecond: opts.maxMessagesPerSecond ?? 0,
    dieYoungAfterMs: opts.dieYoungAfterMs ?? null,
    schedule1008EveryMs: schedule,
    malformedEveryMs: opts.malformedEveryMs ?? null,
    firstStatus: opts.firstStatus ?? 'connected',
    slowConsumerBytes: opts.slowConsumerBytes ?? 0,
    clientLogSize: Math.max(1, opts.clientMessageLogSize ?? 100_000),
    priceSource: opts.priceSource ?? randomWalkPriceSource(seed),
    universe: opts.universe ?? [],
    seed,
    log: opts.logger ?? pino({ level: 'silent' }),
  };
}

export function checkStormRange({ minMs, maxMs }: Schedule1008Range): void {
  // A zero gap would close in a tight loop; a reversed range is a typo better caught than swapped.
  if (!Number.isFinite(minMs) || !Number.isFinite(maxMs) || minMs <= 0 || maxMs < minMs) {
    throw new RangeError(`a 1008 storm range needs 0 < minMs <= maxMs, got ${minMs}..${maxMs}`);
  }
}

function checkLateness({ minMs, maxMs }: Lateness): void {
  if (!Number.isFinite(minMs) || !Number.isFinite(maxMs) || minMs < 0 || maxMs < minMs) {
    throw new RangeError(`lateness needs 0 <= minMs <= maxMs, got ${minMs}..${maxMs}`);
  }
}

export function refuseInStrictMode(what: string): never {
  throw new Error(`strictProvider: ${what} is not behaviour of the real server (see ROBUSTNESS_FAULTS)`);
}
