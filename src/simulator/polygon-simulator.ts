// A faithful stand-in for the Polygon.io / Massive real-time stocks WebSocket
// (shared/docs/upstream-protocol.md): a real `ws` server on loopback speaking the same frames, with
// the faults the real one shows (max_connections kicks, 1008 closes, slow consumers, slow acks, a
// dead socket, connections that die young) on demand and on a schedule. Every channel prefix it
// acknowledges produces data (`A`, `AM`, `T`, `Q`, `LULD`, `NOI`; events.ts), aggregates arrive a
// configurable, jittered time after their window ends, and the official clients' judgement
// (test/conformance) is what keeps it from drifting into a dialect only livescan speaks.
//
// Besides the real server's behaviour it offers faults the real server has never been seen to
// show, to test a client's robustness: malformed frames (robustness faults), lost acks and a
// limit on control messages (undocumented hypotheses). `strictProvider` refuses all of them; see
// ROBUSTNESS_FAULTS. Its own record of what each connection had acknowledged is the ground truth
// tests compare a client against.

import { EventEmitter } from 'node:events';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { decodeClientMessage, serverEvents, splitChannels, symbolOfChannel, AGGREGATE_EVENT } from '../upstream/codec.js';
import { pino } from 'pino';
import type { Logger } from '../shared/logger.js';
import { mulberry32 } from '../shared/prng.js';
import { AggregateBook, randomWalkPriceSource, type AggregateEvent, type PriceSource } from './aggregate-source.js';
import {
  CHANNEL_PREFIXES,
  MinuteFold,
  Sequencer,
  buildImbalance,
  buildLuld,
  buildQuote,
  buildTrades,
  isChannelPrefix,
  type ChannelPrefix,
  type DataEvent,
  type MinuteAggregateEvent,
} from './events.js';

export type { PriceSource, AggregateEvent } from './aggregate-source.js';
export { CHANNEL_PREFIXES, type ChannelPrefix } from './events.js';
export type { MinuteAggregateEvent, TradeEvent, QuoteEvent, LuldEvent, ImbalanceEvent, DataEvent } from './events.js';

export type MalformedKind = 'invalid_json' | 'not_array' | 'bad_aggregate' | 'unknown_event';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'];

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

export interface ConnectionInfo {
  id: string;
  /** The key it authenticated with (null before a successful auth). Never log it. */
  apiKey: string | null;
  authenticated: boolean;
  openedAt: number;
  closedAt?: number;
  /** The code the server closed with, else the code the client closed with (1006: no close frame). */
  closeCode?: number;
}

export interface ClientMessageRecord {
  at: number;
  connId: string;
  action: 'auth' | 'subscribe' | 'unsubscribe' | 'malformed';
  channels: string[];
}

export interface SimulatorStats {
  connectionsTotal: number;
  openConnections: number;
  authSuccess: number;
  authFailed: number;
  authTimeouts: number;
  closesByCode: Record<string, number>;
  maxConnectionsKicks: number;
  slowConsumerDrops: number;
  forceDisconnects: number;
  floodCloses: number;
  /** Connections closed by the 1008 schedule, fixed or jittered. */
  scheduled1008Closes: number;
  /** Connections closed for reaching the dieYoungAfterMs age. */
  youngDeaths: number;
  /** Connections greeted with the `success` variant of the first status. */
  successGreetings: number;
  subscribeMessages: number;
  unsubscribeMessages: number;
  /** Channels of accepted subscribe messages, duplicates included. */
  channelsSubscribed: number;
  channelsUnsubscribed: number;
  /** The most channels seen in one subscribe or unsubscribe message. */
  maxChannelsPerMessage: number;
  refusedNotAuthorized: number;
  invalidChannels: number;
  messagesReceived: number;
  malformedClientMessages: number;
  acksSent: number;
  acksDropped: number;
  /** `A` events sent. */
  aggregatesSent: number;
  /** `AM` events sent. */
  minuteAggregatesSent: number;
  tradesSent: number;
  quotesSent: number;
  luldSent: number;
  imbalancesSent: number;
  framesSent: number;
  malformedSent: number;
  pingsSent: number;
  pongsReceived: number;
  /** Connections dropped for answering no ping within an interval. */
  deadPeersDropped: number;
  /** Live authenticated connections now, across all keys. */
  authenticatedNow: number;
  /** The highest number of simultaneously authenticated connections ever, across all keys. */
  maxConcurrentAuthenticated: number;
}

export type PolygonSimulatorEvents = {
  connection: [connId: string, atMs: number];
  authenticated: [connId: string, atMs: number];
  /** A subscribe message arrived from an authenticated connection (before any ack delay). */
  subscribeRequested: [connId: string, symbols: string[], atMs: number];
  /** Acks were sent for these A symbols: the moment they became acknowledged. */
  subscribed: [connId: string, symbols: string[], atMs: number];
  unsubscribed: [connId: string, symbols: string[], atMs: number];
  /** `reason`: the server's own close reason, else the client's ('' when the socket was cut). */
  closed: [connId: string, code: number, atMs: number, reason: string];
};

interface PendingOp {
  dueAt: number;
  action: 'subscribe' | 'unsubscribe';
  channels: string[];
}

interface Conn {
  id: string;
  ws: WebSocket;
  apiKey: string | null;
  authenticated: boolean;
  openedAt: number;
  closedAt?: number;
  closeCode?: number;
  /** The server decided to close it: it is no longer live whatever the socket's state. */
  closing: boolean;
  serverCloseCode?: number;
  serverCloseReason?: string;
  /** Channels the server applies (data flows for them), acknowledged or not. */
  activeChannels: Set<string>;
  /** The same, per prefix: the explicit symbols and whether `X.*` is on. */
  streams: Record<ChannelPrefix, Stream>;
  /** A symbols whose subscribe ack reached the wire and that were not unsubscribed since. */
  acked: Set<string>;
  /** Every channel (any prefix, `X.*` included) whose subscribe ack reached the wire and that was not unsubscribed since. */
  ackedChannels: Set<string>;
  pending: PendingOp[];
  lastDueAt: number;
  ackTimer: NodeJS.Timeout | null;
  authTimer: NodeJS.Timeout | null;
  killTimer: NodeJS.Timeout | null;
  youngTimer: NodeJS.Timeout | null;
  /** Monotonic arrival times of the subscribe/unsubscribe messages of the last second, oldest first. */
  controlTimes: number[];
  /** A ping went out and no pong came back yet: at the next ping the peer is declared dead. */
  awaitingPong?: boolean;
}

interface Stream {
  symbols: Set<string>;
  wildcard: boolean;
}

function emptyStreams(): Record<ChannelPrefix, Stream> {
  const out = {} as Record<ChannelPrefix, Stream>;
  for (const p of CHANNEL_PREFIXES) out[p] = { symbols: new Set(), wildcard: false };
  return out;
}

/** One closed window's events, by prefix and symbol, waiting to be handed to the connections that want them. */
type WindowEvents = Partial<Record<ChannelPrefix, Map<string, DataEvent[]>>>;

/**
 * The close code of close(): 1012 (service restart). The official Python client takes 1000 and
 * 1001 (its `websockets` library's ConnectionClosedOK) as "closed for good" and stops; every other
 * code (ConnectionClosedError) makes it reconnect, as the Go client does for anything but 1000.
 * The official JS client has no reconnect logic of its own (it hands out a bare W3C WebSocket) and
 * its `websocket` library accepts 1012 as a valid code. 1011 would read "internal error": a
 * shutdown of the simulator is a restart of the service, not a failure.
 */
export const SHUTDOWN_CLOSE_CODE = 1012;
/** How long a closing socket may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

function parseChannel(channel: string): { ev: ChannelPrefix; symbol: string } | null {
  const dot = channel.indexOf('.');
  if (dot <= 0) return null;
  const ev = channel.slice(0, dot);
  if (!isChannelPrefix(ev)) return null;
  if (channel.slice(dot + 1) === '*') return { ev, symbol: '*' };
  const symbol = symbolOfChannel(channel, ev);
  return symbol ? { ev, symbol } : null;
}

const statusError = (message: string) => ({ ev: 'status', status: 'error', message });

function checkStormRange({ minMs, maxMs }: Schedule1008Range): void {
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

function refuseInStrictMode(what: string): never {
  throw new Error(`strictProvider: ${what} is not behaviour of the real server (see ROBUSTNESS_FAULTS)`);
}

function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export class PolygonSimulator extends EventEmitter<PolygonSimulatorEvents> {
  readonly host: string;
  private wss: WebSocketServer | null = null;
  private _port = 0;
  private readonly apiKeys: Set<string>;
  private readonly authTimeoutMs: number;
  private ackDelayMs: number;
  private dropAckProbability: number;
  private readonly aggregateIntervalMs: number;
  private readonly minuteIntervalMs: number;
  private readonly lateness: Lateness;
  private readonly strict: boolean;
  private readonly pingIntervalMs: number;
  private maxMessagesPerSecond = 0;
  private dieYoungAfterMs: number | null = null;
  private firstStatus: FirstStatus;
  private readonly slowConsumerBytes: number;
  private readonly clientLogSize: number;
  private readonly priceSource: PriceSource;
  private readonly book = new AggregateBook();
  private readonly universe: readonly string[];
  private readonly rng: () => number;
  /** Its own stream, so a storm leaves the lost-ack draws of a seed exactly as they were. */
  private readonly stormRng: () => number;
  /** The same for the lateness jitter, and for the details (exchanges, sizes) of trades and quotes. */
  private readonly latenessRng: () => number;
  private readonly detailRng: () => number;
  private readonly seq = new Sequencer();
  private readonly minuteFold = new MinuteFold();
  /** The end of the minute the fold holds (0: none yet). */
  private minuteEnd = 0;
  /** Per symbol: the reference price of the last LULD band published. */
  private readonly luldReference = new Map<string, number>();
  private readonly log: Logger;

  private readonly conns = new Map<string, Conn>();
  private nextConnId = 1;
  private silent = false;
  private shuttingDown: Promise<void> | null = null;
  private lastWindowEnd = 0;
  /** When the last window's aggregates were (or will be) delivered: windows never overtake each other. */
  private lastDeliveryAt = 0;
  private malformedTurn = 0;
  private clientLog: ClientMessageRecord[] = [];

  private tickTimer: NodeJS.Timeout | null = null;
  /** Aggregates waiting for their lateness to pass, oldest first, their times never decreasing. */
  private deliveryQueue: { at: number; events: WindowEvents }[] = [];
  private deliveryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private schedule1008Timer: NodeJS.Timeout | null = null;
  private malformedTimer: NodeJS.Timeout | null = null;

  private readonly counters = {
    connectionsTotal: 0,
    authSuccess: 0,
    authFailed: 0,
    authTimeouts: 0,
    maxConnectionsKicks: 0,
    slowConsumerDrops: 0,
    forceDisconnects: 0,
    floodCloses: 0,
    scheduled1008Closes: 0,
    youngDeaths: 0,
    successGreetings: 0,
    subscribeMessages: 0,
    unsubscribeMessages: 0,
    channelsSubscribed: 0,
    channelsUnsubscribed: 0,
    maxChannelsPerMessage: 0,
    refusedNotAuthorized: 0,
    invalidChannels: 0,
    messagesReceived: 0,
    malformedClientMessages: 0,
    acksSent: 0,
    acksDropped: 0,
    aggregatesSent: 0,
    minuteAggregatesSent: 0,
    tradesSent: 0,
    quotesSent: 0,
    luldSent: 0,
    imbalancesSent: 0,
    framesSent: 0,
    malformedSent: 0,
    pingsSent: 0,
    pongsReceived: 0,
    deadPeersDropped: 0,
    maxConcurrentAuthenticated: 0,
  };
  private readonly closesByCode: Record<string, number> = {};

  constructor(private readonly opts: PolygonSimulatorOptions = {}) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.apiKeys = new Set(opts.apiKeys ?? ['sim-key']);
    this.authTimeoutMs = opts.authTimeoutMs ?? 5000;
    this.strict = opts.strictProvider ?? false;
    // Checked before anything else: a refused fault must not leave a bound port behind.
    if (this.strict) {
      if ((opts.malformedEveryMs ?? 0) > 0) refuseInStrictMode('malformedEveryMs');
      if ((opts.dropAckProbability ?? 0) > 0) refuseInStrictMode('dropAckProbability');
      if ((opts.maxMessagesPerSecond ?? 0) > 0) refuseInStrictMode('maxMessagesPerSecond');
    }
    this.ackDelayMs = Math.max(0, opts.ackDelayMs ?? 0);
    this.dropAckProbability = opts.dropAckProbability ?? 0;
    this.aggregateIntervalMs = Math.max(0, opts.aggregateIntervalMs ?? 1000);
    this.minuteIntervalMs = Math.max(0, opts.minuteAggregateIntervalMs ?? 60_000);
    this.lateness = { ...(opts.lateness ?? { minMs: 0, maxMs: 0 }) };
    checkLateness(this.lateness);
    this.pingIntervalMs = opts.pingIntervalMs ?? 30_000;
    this.setMaxMessagesPerSecond(opts.maxMessagesPerSecond ?? 0);
    this.setDieYoung(opts.dieYoungAfterMs ?? null);
    this.firstStatus = opts.firstStatus ?? 'connected';
    // Checked here, not only when listen() arms it: a bad range must not leave a bound port behind.
    const schedule = opts.schedule1008EveryMs;
    if (typeof schedule === 'object' && schedule !== null) checkStormRange(schedule);
    this.slowConsumerBytes = opts.slowConsumerBytes ?? 0;
    this.clientLogSize = Math.max(1, opts.clientMessageLogSize ?? 100_000);
    this.priceSource = opts.priceSource ?? randomWalkPriceSource(opts.seed ?? 42);
    this.universe = opts.universe ?? [];
    this.rng = mulberry32((opts.seed ?? 42) ^ 0x5bd1e995);
    this.stormRng = mulberry32((opts.seed ?? 42) ^ 0x27d4eb2f);
    this.latenessRng = mulberry32((opts.seed ?? 42) ^ 0x165667b1);
    this.detailRng = mulberry32((opts.seed ?? 42) ^ 0x3c6ef372);
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  get port(): number {
    return this._port;
  }

  get url(): string {
    return `ws://${this.host}:${this._port}/stocks`;
  }

  /** Binds the server and starts its timers. Called by startPolygonSimulator. */
  async listen(): Promise<void> {
    if (this.wss) return;
    // Any path is accepted (the real one serves /stocks; a client's path is its own business).
    // autoPong off: the simulator answers pings itself, so silent mode can stop answering them.
    const wss = new WebSocketServer({
      host: this.host,
      port: this.opts.port ?? 0,
      autoPong: false,
      clientTracking: false,
      maxPayload: 16 * 1024 * 1024,
    });
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      wss.once('error', onError);
      wss.once('listening', () => {
        wss.off('error', onError);
        resolve();
      });
    });
    wss.on('error', (err) => this.log.error({ event: 'simulator_server_error', err: err.message }));
    const addr = wss.address();
    this._port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    wss.on('connection', (ws) => this.onConnection(ws));

    if (this.aggregateIntervalMs > 0) this.armTick();
    if (this.pingIntervalMs > 0) this.pingTimer = setInterval(() => this.pingTick(), this.pingIntervalMs);
    this.setSchedule1008(this.opts.schedule1008EveryMs ?? null);
    this.setMalformedEvery(this.opts.malformedEveryMs ?? null);
    this.log.info({ event: 'simulator_listening', url: this.url });
  }

  // ---- ground truth -------------------------------------------------------------------------

  /**
   * The A symbols whose subscribe ack went out (and that were not unsubscribed since) on the given
   * connection, or on the newest live authenticated one (empty if there is none).
   */
  acknowledged(connId?: string): Set<string> {
    const c = connId === undefined ? this.liveConnection() : this.conns.get(connId);
    return new Set(c?.acked ?? []);
  }

  /** The A symbols the server applies (streams data for), acknowledged or not (lost acks). */
  subscriptions(connId?: string): Set<string> {
    const c = connId === undefined ? this.liveConnection() : this.conns.get(connId);
    return new Set(c?.streams.A.symbols ?? []);
  }

  /**
   * Every channel of any prefix (`AM.AAPL`, `T.*`...) whose subscribe ack went out and that was not
   * unsubscribed since, on the given connection or the newest live authenticated one.
   */
  acknowledgedChannels(connId?: string): Set<string> {
    const c = connId === undefined ? this.liveConnection() : this.conns.get(connId);
    return new Set(c?.ackedChannels ?? []);
  }

  /** Every channel of any prefix the server applies, acknowledged or not. */
  channels(connId?: string): Set<string> {
    const c = connId === undefined ? this.liveConnection() : this.conns.get(connId);
    return new Set(c?.activeChannels ?? []);
  }

  /** True when the simulator refuses the faults the real server never shows (ROBUSTNESS_FAULTS). */
  isStrictProvider(): boolean {
    return this.strict;
  }

  /** The id of the newest live authenticated connection, if any. */
  liveConnectionId(): string | undefined {
    return this.liveConnection()?.id;
  }

  connections(): ConnectionInfo[] {
    return [...this.conns.values()].map((c) => {
      const info: ConnectionInfo = { id: c.id, apiKey: c.apiKey, authenticated: c.authenticated, openedAt: c.openedAt };
      if (c.closedAt !== undefined) info.closedAt = c.closedAt;
      if (c.closeCode !== undefined) info.closeCode = c.closeCode;
      return info;
    });
  }

  clientMessages(): ClientMessageRecord[] {
    return this.clientLog.slice();
  }

  stats(): SimulatorStats {
    let open = 0;
    for (const c of this.conns.values()) if (c.closedAt === undefined) open++;
    return {
      ...this.counters,
      openConnections: open,
      authenticatedNow: this.liveAuthenticated().length,
      closesByCode: { ...this.closesByCode },
    };
  }

  // ---- faults -------------------------------------------------------------------------------

  /** Close with 1008 (policy violation), no status first. Returns how many connections. */
  close1008(which: Target = 'all'): number {
    const targets = this.targets(which, false);
    for (const c of targets) this.closeConn(c, 1008, 'policy violation');
    return targets.length;
  }

  /**
   * Close every live authenticated connection with a bare 1008 every `schedule` ms, or after gaps
   * drawn in turn from a range; null (or a non-positive number) stops it.
   */
  setSchedule1008(schedule: number | Schedule1008Range | null): void {
    if (typeof schedule === 'object' && schedule !== null) checkStormRange(schedule);
    if (this.schedule1008Timer) clearTimeout(this.schedule1008Timer);
    this.schedule1008Timer = null;
    if (schedule === null || this.shuttingDown) return;
    if (typeof schedule === 'number') {
      if (schedule > 0) this.schedule1008Timer = setInterval(() => this.scheduled1008(), schedule);
      return;
    }
    const { minMs, maxMs } = schedule;
    const arm = () => {
      const timer = setTimeout(
        () => {
          this.scheduled1008();
          // A later setSchedule1008 or close() owns the schedule now: this chain ends here.
          if (this.schedule1008Timer === timer && !this.shuttingDown) arm();
        },
        minMs + (maxMs - minMs) * this.stormRng(),
      );
      this.schedule1008Timer = timer;
    };
    arm();
  }

  /**
   * Every connection that authenticates from now on is closed with a bare 1008 `ms` after its
   * auth_success; null stops it (connections already authenticated keep their fate).
   */
  setDieYoung(ms: number | null): void {
    this.dieYoungAfterMs = ms === null || !Number.isFinite(ms) ? null : Math.max(0, ms);
  }

  /**
   * The limit on subscribe/unsubscribe messages per sliding second and connection; 0 turns it off.
   * An undocumented hypothesis: strict mode refuses a limit.
   */
  setMaxMessagesPerSecond(n: number): void {
    const limit = Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0;
    if (this.strict && limit > 0) refuseInStrictMode('a limit on control messages');
    this.maxMessagesPerSecond = limit;
  }

  /** The status of the first frame of connections opened from now on. */
  setFirstStatus(status: FirstStatus): void {
    this.firstStatus = status;
  }

  /** Status max_connections, then close 1008, as when another connection takes the key. */
  kickWithMaxConnections(which: Target = 'all'): number {
    const targets = this.targets(which, true);
    for (const c of targets) this.kick(c);
    return targets.length;
  }

  /** Status slow_consumer, then close 1008. */
  dropSlowConsumer(which: Target = 'all'): number {
    const targets = this.targets(which, true);
    for (const c of targets) this.dropSlow(c);
    return targets.length;
  }

  /** Status force_disconnect, then close 1008. */
  forceDisconnect(which: Target = 'all'): number {
    const targets = this.targets(which, true);
    for (const c of targets) {
      this.counters.forceDisconnects++;
      this.sendEvents(c, [serverEvents.forceDisconnect()], true);
      this.closeConn(c, 1008, 'force disconnect');
    }
    return targets.length;
  }

  /** One malformed frame to each targeted live authenticated connection. A robustness fault: strict mode refuses it. */
  sendMalformed(kind: MalformedKind, which: Target = 'all'): number {
    if (this.strict) refuseInStrictMode('a malformed frame');
    const targets = this.targets(which, true);
    for (const c of targets) {
      if (this.sendRaw(c, this.malformedFrame(kind, c), true)) this.counters.malformedSent++;
    }
    return targets.length;
  }

  /**
   * A malformed frame (kinds in turn) to every live authenticated connection every `ms`; null stops
   * it. A robustness fault: strict mode refuses to start it.
   */
  setMalformedEvery(ms: number | null): void {
    if (this.strict && ms !== null && ms > 0) refuseInStrictMode('malformed frames');
    if (this.malformedTimer) clearInterval(this.malformedTimer);
    this.malformedTimer = null;
    if (ms !== null && ms > 0 && !this.shuttingDown) {
      this.malformedTimer = setInterval(() => {
        if (this.silent) return;
        const kind = MALFORMED_KINDS[this.malformedTurn++ % MALFORMED_KINDS.length] ?? 'invalid_json';
        this.sendMalformed(kind);
      }, ms);
    }
  }

  /** Applies to messages received from now on; earlier ones keep their due time (order is kept). */
  setAckDelay(ms: number): void {
    this.ackDelayMs = Math.max(0, ms);
  }

  /** Probability (0..1) that one channel's ack is lost. An undocumented hypothesis: strict mode refuses p > 0. */
  dropAcks(probability: number): void {
    const p = Math.min(1, Math.max(0, probability));
    if (this.strict && p > 0) refuseInStrictMode('lost acks');
    this.dropAckProbability = p;
  }

  /**
   * Silent: the server sends nothing (no data, acks, statuses, pings, pongs) and ignores what it
   * receives, but keeps the sockets open: a dead connection only a client heartbeat can detect.
   * Explicit fault calls still act.
   */
  setSilent(silent: boolean): void {
    if (this.silent === silent) return;
    this.silent = silent;
    this.log.info({ event: 'simulator_silent', silent });
    if (!silent) for (const c of this.conns.values()) this.flushAcks(c);
  }

  isSilent(): boolean {
    return this.silent;
  }

  /** Closes every socket (SHUTDOWN_CLOSE_CODE, then cut if the client does not answer), stops every timer. */
  close(): Promise<void> {
    this.shuttingDown ??= this.shutdown();
    return this.shuttingDown;
  }

  // ---- connections --------------------------------------------------------------------------

  private onConnection(ws: WebSocket): void {
    if (this.shuttingDown) {
      ws.terminate();
      return;
    }
    const now = Date.now();
    const conn: Conn = {
      id: `c${this.nextConnId++}`,
      ws,
      apiKey: null,
      authenticated: false,
      openedAt: now,
      closing: false,
      activeChannels: new Set(),
      streams: emptyStreams(),
      acked: new Set(),
      ackedChannels: new Set(),
      pending: [],
      lastDueAt: 0,
      ackTimer: null,
      authTimer: null,
      killTimer: null,
      youngTimer: null,
      controlTimes: [],
    };
    this.conns.set(conn.id, conn);
    this.pruneConnections();
    this.counters.connectionsTotal++;
    this.log.debug({ event: 'simulator_connection_opened', connId: conn.id });

    ws.on('message', (data) => this.onMessage(conn, data));
    ws.on('ping', (data) => {
      if (!this.silent && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on('pong', () => {
      this.counters.pongsReceived++;
      conn.awaitingPong = false;
    });
    ws.on('error', (err) => this.log.debug({ event: 'simulator_socket_error', connId: conn.id, err: err.message }));
    ws.on('close', (code, reason) => this.onClose(conn, code, reason.toString('utf8')));

    conn.authTimer = setTimeout(() => {
      conn.authTimer = null;
      if (this.silent || conn.authenticated) return;
      this.counters.authTimeouts++;
      this.sendEvents(conn, [serverEvents.authTimeout()]);
      this.closeConn(conn, 1008, 'no authentication');
    }, this.authTimeoutMs);

    if (this.firstStatus === 'success') {
      if (this.sendEvents(conn, [serverEvents.connectedSuccess()])) this.counters.successGreetings++;
    } else {
      this.sendEvents(conn, [serverEvents.connected()]);
    }
    this.emitSafe('connection', conn.id, now);
  }

  private onClose(conn: Conn, code: number, reason: string): void {
    const now = Date.now();
    this.clearConnTimers(conn);
    conn.pending = [];
    conn.closing = true;
    conn.closedAt = now;
    conn.closeCode = conn.serverCloseCode ?? code;
    const key = String(conn.closeCode);
    this.closesByCode[key] = (this.closesByCode[key] ?? 0) + 1;
    const closeReason = conn.serverCloseReason ?? reason;
    this.log.debug({ event: 'simulator_connection_closed', connId: conn.id, code: conn.closeCode, reason: closeReason });
    this.emitSafe('closed', conn.id, conn.closeCode, now, closeReason);
  }

  private clearConnTimers(conn: Conn): void {
    if (conn.authTimer) clearTimeout(conn.authTimer);
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    if (conn.killTimer) clearTimeout(conn.killTimer);
    if (conn.youngTimer) clearTimeout(conn.youngTimer);
    conn.authTimer = conn.ackTimer = conn.killTimer = conn.youngTimer = null;
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing || conn.closedAt !== undefined) return;
    conn.closing = true;
    conn.serverCloseCode = code;
    conn.serverCloseReason = reason;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    if (conn.youngTimer) clearTimeout(conn.youngTimer);
    conn.authTimer = conn.ackTimer = conn.youngTimer = null;
    conn.pending = [];
    this.log.debug({ event: 'simulator_closing', connId: conn.id, code, reason });
    try {
      conn.ws.close(code, reason);
    } catch {
      conn.ws.terminate();
    }
    // A client that never answers the close frame (a dead one) is cut, as the real server would.
    conn.killTimer = setTimeout(() => {
      conn.killTimer = null;
      conn.ws.terminate();
    }, CLOSE_GRACE_MS);
  }

  private kick(conn: Conn): void {
    this.counters.maxConnectionsKicks++;
    this.sendEvents(conn, [serverEvents.maxConnections()], true);
    this.closeConn(conn, 1008, 'max connections');
  }

  private dropSlow(conn: Conn): void {
    this.counters.slowConsumerDrops++;
    this.sendEvents(conn, [serverEvents.slowConsumer()], true);
    this.closeConn(conn, 1008, 'slow consumer');
  }

  private isLive(c: Conn): boolean {
    return !c.closing && c.closedAt === undefined && c.ws.readyState === WebSocket.OPEN;
  }

  private liveAuthenticated(): Conn[] {
    return [...this.conns.values()].filter((c) => c.authenticated && this.isLive(c));
  }

  private liveConnection(): Conn | undefined {
    let newest: Conn | undefined;
    for (const c of this.conns.values()) if (c.authenticated && this.isLive(c)) newest = c;
    return newest;
  }

  private targets(which: Target, authenticatedOnly: boolean): Conn[] {
    const live = [...this.conns.values()].filter((c) => this.isLive(c) && (!authenticatedOnly || c.authenticated));
    return which === 'all' ? live : live.filter((c) => c.id === which);
  }

  /** Keeps the records of closed connections bounded over a long run of reconnects. */
  private pruneConnections(): void {
    if (this.conns.size <= 10_000) return;
    for (const [id, c] of this.conns) {
      if (this.conns.size <= 9_000) break;
      if (c.closedAt !== undefined) this.conns.delete(id);
    }
  }

  // ---- client messages ----------------------------------------------------------------------

  private record(conn: Conn, action: ClientMessageRecord['action'], channels: string[]): void {
    this.clientLog.push({ at: Date.now(), connId: conn.id, action, channels });
    if (this.clientLog.length > this.clientLogSize * 1.1) {
      this.clientLog = this.clientLog.slice(this.clientLog.length - this.clientLogSize);
    }
  }

  private onMessage(conn: Conn, data: RawData): void {
    this.counters.messagesReceived++;
    const msg = decodeClientMessage(rawToText(data));
    if (!msg) {
      this.counters.malformedClientMessages++;
      this.record(conn, 'malformed', []);
      // Neither the frame nor a sample of it is logged: it may hold a key.
      this.log.warn({ event: 'simulator_client_message_malformed', connId: conn.id });
      if (!this.silent) this.sendEvents(conn, [statusError('invalid message')]);
      return;
    }
    const channels = msg.action === 'auth' ? [] : splitChannels(msg.params);
    this.record(conn, msg.action, channels);
    if (this.silent || conn.closing) return;

    if (msg.action === 'auth') {
      this.onAuth(conn, msg.params);
      return;
    }
    if (this.flooded(conn)) return;
    if (!conn.authenticated) {
      this.counters.refusedNotAuthorized++;
      this.sendEvents(conn, [serverEvents.notAuthorized()]);
      return;
    }
    this.counters.maxChannelsPerMessage = Math.max(this.counters.maxChannelsPerMessage, channels.length);
    if (msg.action === 'subscribe') {
      this.counters.subscribeMessages++;
      this.counters.channelsSubscribed += channels.length;
      const symbols = channels.map((c) => symbolOfChannel(c)).filter((s): s is string => s !== null);
      this.emitSafe('subscribeRequested', conn.id, symbols, Date.now());
    } else {
      this.counters.unsubscribeMessages++;
      this.counters.channelsUnsubscribed += channels.length;
    }
    if (channels.length > 0) this.enqueue(conn, msg.action, channels);
  }

  /** For a subscribe/unsubscribe message: true when it broke the limit and the connection is closing. */
  private flooded(conn: Conn): boolean {
    if (this.maxMessagesPerSecond <= 0) return false;
    // Monotonic: a step of the wall clock must neither empty nor stretch the window.
    const now = performance.now();
    const times = conn.controlTimes;
    let expired = 0;
    while (expired < times.length && (times[expired] ?? now) <= now - 1000) expired++;
    if (expired > 0) times.splice(0, expired);
    if (times.length < this.maxMessagesPerSecond) {
      times.push(now);
      return false;
    }
    this.counters.floodCloses++;
    // Bare, as the real server's policy closes are: nothing tells the client which rule it broke.
    this.closeConn(conn, 1008, 'policy violation');
    return true;
  }

  private onAuth(conn: Conn, key: string): void {
    if (conn.authenticated) {
      this.sendEvents(conn, [serverEvents.authSuccess()]);
      return;
    }
    if (conn.authTimer) clearTimeout(conn.authTimer);
    conn.authTimer = null;
    if (!this.apiKeys.has(key)) {
      this.counters.authFailed++;
      this.log.info({ event: 'simulator_auth_failed', connId: conn.id });
      this.sendEvents(conn, [serverEvents.authFailed()]);
      this.closeConn(conn, 1008, 'authentication failed');
      return;
    }
    conn.authenticated = true;
    conn.apiKey = key;
    this.counters.authSuccess++;
    this.sendEvents(conn, [serverEvents.authSuccess()]);
    this.armDieYoung(conn);
    const live = this.liveAuthenticated();
    this.counters.maxConcurrentAuthenticated = Math.max(this.counters.maxConcurrentAuthenticated, live.length);
    const now = Date.now();
    this.emitSafe('authenticated', conn.id, now);
    // One connection per key: the newcomer wins, every older one on the key is kicked.
    for (const other of live) if (other !== conn && other.apiKey === key) this.kick(other);
  }

  private armDieYoung(conn: Conn): void {
    const ms = this.dieYoungAfterMs;
    if (ms === null) return;
    conn.youngTimer = setTimeout(() => {
      conn.youngTimer = null;
      if (this.silent || !this.isLive(conn)) return;
      this.counters.youngDeaths++;
      this.closeConn(conn, 1008, 'policy violation');
    }, ms);
  }

  // ---- acks ---------------------------------------------------------------------------------

  private enqueue(conn: Conn, action: PendingOp['action'], channels: string[]): void {
    const now = Date.now();
    // Never before an earlier message's acks, even if the delay was lowered meanwhile.
    const dueAt = Math.max(now + this.ackDelayMs, conn.lastDueAt);
    conn.lastDueAt = dueAt;
    conn.pending.push({ dueAt, action, channels });
    if (dueAt <= now && conn.pending.length === 1) this.flushAcks(conn);
    else this.scheduleAckFlush(conn);
  }

  private scheduleAckFlush(conn: Conn): void {
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    conn.ackTimer = null;
    const first = conn.pending[0];
    if (!first || conn.closing) return;
    conn.ackTimer = setTimeout(
      () => {
        conn.ackTimer = null;
        this.flushAcks(conn);
      },
      Math.max(0, first.dueAt - Date.now()),
    );
  }

  /** Applies every due operation and sends all their acks in one frame. */
  private flushAcks(conn: Conn): void {
    if (this.silent || !this.isLive(conn)) return;
    const now = Date.now();
    const events: object[] = [];
    const subscribed: string[] = [];
    const unsubscribed: string[] = [];
    while (conn.pending[0] && conn.pending[0].dueAt <= now) {
      const op = conn.pending.shift();
      if (!op) break;
      for (const channel of op.channels) {
        const parsed = parseChannel(channel);
        if (!parsed) {
          this.counters.invalidChannels++;
          events.push(statusError(`invalid channel: ${channel.slice(0, 40)}`));
          continue;
        }
        const isA = parsed.ev === AGGREGATE_EVENT;
        const wild = parsed.symbol === '*';
        const stream = conn.streams[parsed.ev];
        const lost = this.dropAckProbability > 0 && this.rng() < this.dropAckProbability;
        if (op.action === 'subscribe') {
          conn.activeChannels.add(channel);
          if (wild) stream.wildcard = true;
          else stream.symbols.add(parsed.symbol);
          if (lost) {
            this.counters.acksDropped++;
            continue;
          }
          events.push(serverEvents.subscribed(channel));
          this.counters.acksSent++;
          conn.ackedChannels.add(channel);
          if (isA && !wild) {
            conn.acked.add(parsed.symbol);
            subscribed.push(parsed.symbol);
          }
        } else {
          conn.activeChannels.delete(channel);
          conn.ackedChannels.delete(channel);
          if (wild) stream.wildcard = false;
          else stream.symbols.delete(parsed.symbol);
          if (isA && !wild) conn.acked.delete(parsed.symbol);
          if (lost) {
            this.counters.acksDropped++;
            continue;
          }
          events.push(serverEvents.unsubscribed(channel));
          this.counters.acksSent++;
          if (isA && !wild) unsubscribed.push(parsed.symbol);
        }
      }
    }
    if (events.length > 0) this.sendEvents(conn, events);
    if (subscribed.length > 0) this.emitSafe('subscribed', conn.id, subscribed, now);
    if (unsubscribed.length > 0) this.emitSafe('unsubscribed', conn.id, unsubscribed, now);
    this.scheduleAckFlush(conn);
  }

  // ---- outbound -----------------------------------------------------------------------------

  private sendEvents(conn: Conn, events: readonly object[], evenIfSilent = false): boolean {
    return this.sendRaw(conn, JSON.stringify(events), evenIfSilent);
  }

  private sendRaw(conn: Conn, payload: string, evenIfSilent = false): boolean {
    if ((this.silent && !evenIfSilent) || !this.isLive(conn)) return false;
    conn.ws.send(payload);
    this.counters.framesSent++;
    if (this.slowConsumerBytes > 0 && conn.ws.bufferedAmount > this.slowConsumerBytes) this.dropSlow(conn);
    return true;
  }

  // ---- the market ---------------------------------------------------------------------------

  /** Arms the tick that closes the window ending at the next boundary of the aggregate grid. */
  private armTick(): void {
    if (this.shuttingDown) return;
    const interval = this.aggregateIntervalMs;
    const now = Date.now();
    // Strictly after the last window: a timer may fire a millisecond before the wall clock agrees.
    let e = (Math.floor(now / interval) + 1) * interval;
    if (e <= this.lastWindowEnd) e = this.lastWindowEnd + interval;
    this.tickTimer = setTimeout(
      () => {
        this.tickTimer = null;
        this.closeWindow(e);
        this.armTick();
      },
      Math.max(0, e - now),
    );
  }

  /** The symbols some live authenticated connection streams, per prefix (`X.*`: the universe too). */
  private wanted(live: readonly Conn[]): Record<ChannelPrefix, Set<string>> {
    const out = {} as Record<ChannelPrefix, Set<string>>;
    for (const p of CHANNEL_PREFIXES) {
      const set = new Set<string>();
      for (const c of live) {
        const stream = c.streams[p];
        if (stream.wildcard) for (const sym of this.universe) set.add(sym);
        for (const sym of stream.symbols) set.add(sym);
      }
      out[p] = set;
    }
    return out;
  }

  /**
   * The window [e - aggregateIntervalMs, e) is over: the market trades it for the symbols someone
   * streams, `T` and `Q` go out at once, `A` (and `AM` when a minute ends here) after the lateness.
   */
  private closeWindow(e: number): void {
    this.lastWindowEnd = e;
    const s = e - this.aggregateIntervalMs;
    const live = this.silent ? [] : this.liveAuthenticated();
    const wanted = this.wanted(live);
    const now = Date.now();
    const aggregates = new Map<string, AggregateEvent>();
    for (const p of CHANNEL_PREFIXES) {
      for (const sym of wanted[p]) {
        if (aggregates.has(sym)) continue;
        try {
          const trade = this.priceSource(sym, now);
          const ev = trade ? this.book.build(sym, s, e, trade) : undefined;
          if (ev) aggregates.set(sym, ev);
        } catch (err) {
          this.log.warn({ event: 'simulator_price_source_failed', symbol: sym, err: (err as Error).message });
        }
      }
    }

    const prompt: WindowEvents = {};
    const later: WindowEvents = {};
    if (aggregates.size > 0) {
      const of = (p: ChannelPrefix, build: (agg: AggregateEvent) => DataEvent[]): Map<string, DataEvent[]> => {
        const m = new Map<string, DataEvent[]>();
        for (const sym of wanted[p]) {
          const agg = aggregates.get(sym);
          if (agg) m.set(sym, build(agg));
        }
        return m;
      };
      later.A = of('A', (agg) => [agg]);
      prompt.T = of('T', (agg) => buildTrades(agg, this.detailRng, this.seq));
      prompt.Q = of('Q', (agg) => [buildQuote(agg, this.detailRng, this.seq)]);
    }

    const minute = this.minuteIntervalMs;
    if (minute > 0) {
      const minuteEnd = (Math.floor(s / minute) + 1) * minute;
      // A minute no tick reached (the timer was starved): close it now rather than mix it in.
      if (this.minuteEnd > 0 && this.minuteEnd !== minuteEnd) this.closeMinute(this.minuteEnd, wanted, prompt, later);
      this.minuteEnd = minuteEnd;
      const folded = new Set([...wanted.AM, ...wanted.LULD, ...wanted.NOI]);
      for (const sym of folded) {
        const agg = aggregates.get(sym);
        if (agg) this.minuteFold.add(agg);
      }
      if (e >= minuteEnd) this.closeMinute(minuteEnd, wanted, prompt, later);
    }

    this.deliver(prompt, ['T', 'Q', 'LULD', 'NOI']);
    if (later.A?.size || later.AM?.size) this.deliverAfterLateness(e, later);
  }

  /** The minute ending at `end` is over: its `AM` events join the aggregates, `LULD` and `NOI` go out at once. */
  private closeMinute(end: number, wanted: Record<ChannelPrefix, Set<string>>, prompt: WindowEvents, later: WindowEvents): void {
    this.minuteEnd = 0;
    if (this.minuteFold.size === 0) return;
    const minutes = this.minuteFold.drain(end - this.minuteIntervalMs, end);
    // Merged into what the window holds already (a starved timer may close two minutes in one tick).
    const pick = (into: WindowEvents, p: ChannelPrefix, build: (am: MinuteAggregateEvent) => DataEvent[] | null): void => {
      const m = into[p] ?? new Map<string, DataEvent[]>();
      for (const sym of wanted[p]) {
        const am = minutes.get(sym);
        const evs = am ? build(am) : null;
        if (evs && evs.length > 0) m.set(sym, [...(m.get(sym) ?? []), ...evs]);
      }
      into[p] = m;
    };
    pick(later, 'AM', (am) => [am]);
    // A band is published when its reference price moved 1% or more since the last one, as the SIP does.
    pick(prompt, 'LULD', (am) => {
      const ref = this.luldReference.get(am.sym);
      if (ref !== undefined && Math.abs(am.c - ref) < ref * 0.01) return null;
      this.luldReference.set(am.sym, am.c);
      return [buildLuld(am.sym, am.c, end, this.seq)];
    });
    // The real server publishes imbalances only in the minutes before an auction; the simulator has
    // no session calendar and publishes one per minute for each symbol that traded in it.
    pick(prompt, 'NOI', (am) => [buildImbalance(am, this.detailRng, this.seq)]);
  }

  /** Aggregates of the window ending at `e`: delivered at e + lateness, never before an earlier window's. */
  private deliverAfterLateness(e: number, events: WindowEvents): void {
    const { minMs, maxMs } = this.lateness;
    const delay = maxMs > minMs ? minMs + (maxMs - minMs) * this.latenessRng() : minMs;
    const at = Math.max(e + delay, this.lastDeliveryAt);
    this.lastDeliveryAt = at;
    this.deliveryQueue.push({ at, events });
    this.pumpDeliveries();
  }

  /** Delivers what is due; the queue's times never decrease, so one timer for its head suffices. */
  private pumpDeliveries(): void {
    if (this.deliveryTimer || this.shuttingDown) return;
    const now = Date.now();
    while (this.deliveryQueue[0] && this.deliveryQueue[0].at <= now) {
      const due = this.deliveryQueue.shift();
      if (due) this.deliver(due.events, ['A', 'AM']);
    }
    const head = this.deliveryQueue[0];
    if (!head) return;
    this.deliveryTimer = setTimeout(() => {
      this.deliveryTimer = null;
      this.pumpDeliveries();
    }, head.at - now);
  }

  /**
   * Hands each live authenticated connection the events of the prefixes it streams, in one frame.
   * Subscriptions are read now, not when the window closed: nothing reaches a connection for a
   * channel whose unsubscribe was acknowledged before the frame leaves.
   */
  private deliver(events: WindowEvents, prefixes: readonly ChannelPrefix[]): void {
    if (this.silent) return;
    for (const conn of this.liveAuthenticated()) {
      const out: DataEvent[] = [];
      for (const p of prefixes) {
        const bySymbol = events[p];
        if (!bySymbol || bySymbol.size === 0) continue;
        const stream = conn.streams[p];
        const symbols = stream.wildcard ? new Set([...this.universe, ...stream.symbols]) : stream.symbols;
        for (const sym of symbols) {
          const evs = bySymbol.get(sym);
          if (evs) out.push(...evs);
        }
      }
      if (out.length === 0 || !this.sendEvents(conn, out)) continue;
      for (const ev of out) {
        if (ev.ev === 'A') this.counters.aggregatesSent++;
        else if (ev.ev === 'AM') this.counters.minuteAggregatesSent++;
        else if (ev.ev === 'T') this.counters.tradesSent++;
        else if (ev.ev === 'Q') this.counters.quotesSent++;
        else if (ev.ev === 'LULD') this.counters.luldSent++;
        else this.counters.imbalancesSent++;
      }
    }
  }

  private scheduled1008(): void {
    if (this.silent) return;
    for (const c of this.liveAuthenticated()) {
      this.counters.scheduled1008Closes++;
      this.closeConn(c, 1008, 'policy violation');
    }
  }

  private pingTick(): void {
    if (this.silent) return;
    for (const c of this.conns.values()) {
      if (!this.isLive(c)) continue;
      // Like the real server, a client that answered no ping in a whole interval is dead: drop it.
      if (c.awaitingPong) {
        this.counters.deadPeersDropped++;
        this.log.info({ event: 'simulator_dead_peer_dropped', connId: c.id });
        c.closing = true;
        c.ws.terminate();
        continue;
      }
      c.awaitingPong = true;
      c.ws.ping();
      this.counters.pingsSent++;
    }
  }

  private malformedFrame(kind: MalformedKind, conn: Conn): string {
    const sym = conn.streams.A.symbols.values().next().value ?? 'AAPL';
    const e = Math.floor(Date.now() / 1000) * 1000;
    switch (kind) {
      case 'invalid_json':
        return `[{"ev":"A","sym":"${sym}","c":1`;
      case 'not_array':
        return JSON.stringify({ ev: 'status', status: 'success', message: 'not an array' });
      case 'bad_aggregate':
        return JSON.stringify([{ ev: 'A', sym, v: 100, av: 100, op: 1, vw: 1, o: 1, c: 'bad', h: 1, l: 1, a: 1, z: 1, s: e - 1000, e }]);
      case 'unknown_event':
        return JSON.stringify([{ ev: 'XYZ', sym, note: 'an event type no client knows' }]);
    }
  }

  private emitSafe<K extends keyof PolygonSimulatorEvents>(name: K, ...args: PolygonSimulatorEvents[K]): void {
    try {
      // The cast only bridges EventEmitter's conditional signature; the tuple is checked above.
      (this.emit as (n: K, ...a: PolygonSimulatorEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error({ event: 'simulator_listener_failed', name, err: (err as Error).message });
    }
  }

  private async shutdown(): Promise<void> {
    for (const t of [this.tickTimer, this.deliveryTimer, this.pingTimer, this.schedule1008Timer, this.malformedTimer]) {
      if (t) clearInterval(t);
    }
    this.tickTimer = this.deliveryTimer = this.pingTimer = this.schedule1008Timer = this.malformedTimer = null;
    this.deliveryQueue = [];
    const open = [...this.conns.values()].filter((c) => c.closedAt === undefined);
    await Promise.all(
      open.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.ws.once('close', () => resolve());
            if (c.ws.readyState === WebSocket.CLOSED) {
              resolve();
              return;
            }
            if (!c.closing) {
              c.closing = true;
              c.serverCloseCode = SHUTDOWN_CLOSE_CODE;
              c.serverCloseReason = 'server shutting down';
              this.clearConnTimers(c);
              try {
                c.ws.close(SHUTDOWN_CLOSE_CODE, 'server shutting down');
              } catch {
                c.ws.terminate();
              }
            }
            if (c.killTimer) clearTimeout(c.killTimer);
            c.killTimer = setTimeout(() => {
              c.killTimer = null;
              c.ws.terminate();
            }, 1000);
          }),
      ),
    );
    for (const c of this.conns.values()) this.clearConnTimers(c);
    const wss = this.wss;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
    this.log.info({ event: 'simulator_closed' });
  }
}

export async function startPolygonSimulator(opts: PolygonSimulatorOptions = {}): Promise<PolygonSimulator> {
  const sim = new PolygonSimulator(opts);
  await sim.listen();
  return sim;
}
