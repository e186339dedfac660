// A faithful stand-in for the Polygon.io / Massive real-time stocks WebSocket
// (shared/docs/upstream-protocol.md): a real `ws` server on loopback speaking the same frames, with
// the faults the real one shows (max_connections kicks, 1008 closes, slow consumers, slow or lost
// acks, malformed frames, a dead socket) on demand and on a schedule. Its own record of what each
// connection had acknowledged is the ground truth tests compare a client against.

import { EventEmitter } from 'node:events';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { decodeClientMessage, serverEvents, splitChannels, symbolOfChannel, AGGREGATE_EVENT } from '../upstream/codec.js';
import { pino } from 'pino';
import type { Logger } from '../shared/logger.js';
import { mulberry32 } from '../shared/prng.js';
import { AggregateBook, randomWalkPriceSource, type AggregateEvent, type PriceSource } from './aggregate-source.js';

export type { PriceSource, AggregateEvent } from './aggregate-source.js';

export type MalformedKind = 'invalid_json' | 'not_array' | 'bad_aggregate' | 'unknown_event';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'];

/** 'all' (every live connection the fault applies to) or one connection id. */
export type Target = 'all' | string;

export interface PolygonSimulatorOptions {
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Keys that authenticate. Default ['sim-key']. */
  apiKeys?: readonly string[];
  /** No auth within this → status error "No authentication request received." and close 1008. Default 5000. */
  authTimeoutMs?: number;
  /** Delay of every subscribe/unsubscribe ack ("slow acks"). Default 0. */
  ackDelayMs?: number;
  /** Probability (0..1) that one channel's ack is lost; the server still applies the change. Default 0. */
  dropAckProbability?: number;
  /** One frame of `A` events per connection per tick. Default 1000; 0 sends none. */
  aggregateIntervalMs?: number;
  /** Where prices come from; default a seeded random walk per symbol. */
  priceSource?: PriceSource;
  /** Seed of the built-in random walk and of the lost-ack draws. Default 42. */
  seed?: number;
  /** The symbols `A.*` streams (besides the connection's own subscriptions). Default none. */
  universe?: readonly string[];
  /** The server pings every connection this often. Default 30000; 0 never. */
  pingIntervalMs?: number;
  /** Close every live authenticated connection with 1008 this often. Default off. */
  schedule1008EveryMs?: number | null;
  /** Send a malformed frame (kinds in turn) to every live authenticated connection this often. Default off. */
  malformedEveryMs?: number | null;
  /** More client messages than this within one second → status error and close 1008. Default off. */
  maxMessagesPerSecond?: number;
  /** A connection whose unsent buffer exceeds this many bytes is dropped as a slow consumer. Default off (0). */
  slowConsumerBytes?: number;
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
  aggregatesSent: number;
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
  closed: [connId: string, code: number, atMs: number];
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
  /** Channels the server applies (data flows for them), acknowledged or not. */
  activeChannels: Set<string>;
  activeSymbols: Set<string>;
  wildcard: boolean;
  /** A symbols whose subscribe ack reached the wire and that were not unsubscribed since. */
  acked: Set<string>;
  pending: PendingOp[];
  lastDueAt: number;
  ackTimer: NodeJS.Timeout | null;
  authTimer: NodeJS.Timeout | null;
  killTimer: NodeJS.Timeout | null;
  floodWindowStart: number;
  floodCount: number;
  /** A ping went out and no pong came back yet: at the next ping the peer is declared dead. */
  awaitingPong?: boolean;
}

const EVENT_PREFIXES = new Set(['A', 'AM', 'T', 'Q']);
/** How long a closing socket may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

function parseChannel(channel: string): { ev: string; symbol: string } | null {
  const dot = channel.indexOf('.');
  if (dot <= 0) return null;
  const ev = channel.slice(0, dot);
  if (!EVENT_PREFIXES.has(ev)) return null;
  if (channel.slice(dot + 1) === '*') return { ev, symbol: '*' };
  const symbol = symbolOfChannel(channel, ev);
  return symbol ? { ev, symbol } : null;
}

const statusError = (message: string) => ({ ev: 'status', status: 'error', message });

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
  private readonly pingIntervalMs: number;
  private readonly maxMessagesPerSecond: number;
  private readonly slowConsumerBytes: number;
  private readonly clientLogSize: number;
  private readonly priceSource: PriceSource;
  private readonly book = new AggregateBook();
  private readonly universe: readonly string[];
  private readonly rng: () => number;
  private readonly log: Logger;

  private readonly conns = new Map<string, Conn>();
  private nextConnId = 1;
  private silent = false;
  private shuttingDown: Promise<void> | null = null;
  private lastWindowEnd = 0;
  private malformedTurn = 0;
  private clientLog: ClientMessageRecord[] = [];

  private aggregateTimer: NodeJS.Timeout | null = null;
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
    this.ackDelayMs = Math.max(0, opts.ackDelayMs ?? 0);
    this.dropAckProbability = opts.dropAckProbability ?? 0;
    this.aggregateIntervalMs = opts.aggregateIntervalMs ?? 1000;
    this.pingIntervalMs = opts.pingIntervalMs ?? 30_000;
    this.maxMessagesPerSecond = opts.maxMessagesPerSecond ?? 0;
    this.slowConsumerBytes = opts.slowConsumerBytes ?? 0;
    this.clientLogSize = Math.max(1, opts.clientMessageLogSize ?? 100_000);
    this.priceSource = opts.priceSource ?? randomWalkPriceSource(opts.seed ?? 42);
    this.universe = opts.universe ?? [];
    this.rng = mulberry32((opts.seed ?? 42) ^ 0x5bd1e995);
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

    if (this.aggregateIntervalMs > 0) {
      this.aggregateTimer = setInterval(() => this.aggregateTick(), this.aggregateIntervalMs);
    }
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
    return new Set(c?.activeSymbols ?? []);
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

  /** Close every live authenticated connection with 1008 every `ms`; null stops it. */
  setSchedule1008(ms: number | null): void {
    if (this.schedule1008Timer) clearInterval(this.schedule1008Timer);
    this.schedule1008Timer = null;
    if (ms !== null && ms > 0 && !this.shuttingDown) {
      this.schedule1008Timer = setInterval(() => {
        if (this.silent) return;
        for (const c of this.liveAuthenticated()) this.closeConn(c, 1008, 'policy violation');
      }, ms);
    }
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

  /** One malformed frame to each targeted live authenticated connection. */
  sendMalformed(kind: MalformedKind, which: Target = 'all'): number {
    const targets = this.targets(which, true);
    for (const c of targets) {
      if (this.sendRaw(c, this.malformedFrame(kind, c), true)) this.counters.malformedSent++;
    }
    return targets.length;
  }

  /** A malformed frame (kinds in turn) to every live authenticated connection every `ms`; null stops it. */
  setMalformedEvery(ms: number | null): void {
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

  /** Probability (0..1) that one channel's ack is lost. */
  dropAcks(probability: number): void {
    this.dropAckProbability = Math.min(1, Math.max(0, probability));
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

  /** Closes every socket (1001, then cut if the client does not answer), stops every timer. */
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
      activeSymbols: new Set(),
      wildcard: false,
      acked: new Set(),
      pending: [],
      lastDueAt: 0,
      ackTimer: null,
      authTimer: null,
      killTimer: null,
      floodWindowStart: now,
      floodCount: 0,
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
    ws.on('close', (code) => this.onClose(conn, code));

    conn.authTimer = setTimeout(() => {
      conn.authTimer = null;
      if (this.silent || conn.authenticated) return;
      this.counters.authTimeouts++;
      this.sendEvents(conn, [serverEvents.authTimeout()]);
      this.closeConn(conn, 1008, 'no authentication');
    }, this.authTimeoutMs);

    this.sendEvents(conn, [serverEvents.connected()]);
    this.emitSafe('connection', conn.id, now);
  }

  private onClose(conn: Conn, code: number): void {
    const now = Date.now();
    this.clearConnTimers(conn);
    conn.pending = [];
    conn.closing = true;
    conn.closedAt = now;
    conn.closeCode = conn.serverCloseCode ?? code;
    const key = String(conn.closeCode);
    this.closesByCode[key] = (this.closesByCode[key] ?? 0) + 1;
    this.log.debug({ event: 'simulator_connection_closed', connId: conn.id, code: conn.closeCode });
    this.emitSafe('closed', conn.id, conn.closeCode, now);
  }

  private clearConnTimers(conn: Conn): void {
    if (conn.authTimer) clearTimeout(conn.authTimer);
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    if (conn.killTimer) clearTimeout(conn.killTimer);
    conn.authTimer = conn.ackTimer = conn.killTimer = null;
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing || conn.closedAt !== undefined) return;
    conn.closing = true;
    conn.serverCloseCode = code;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    conn.authTimer = conn.ackTimer = null;
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
    if (this.flooded(conn)) return;

    if (msg.action === 'auth') {
      this.onAuth(conn, msg.params);
      return;
    }
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

  private flooded(conn: Conn): boolean {
    if (this.maxMessagesPerSecond <= 0) return false;
    const now = Date.now();
    if (now - conn.floodWindowStart >= 1000) {
      conn.floodWindowStart = now;
      conn.floodCount = 0;
    }
    if (++conn.floodCount <= this.maxMessagesPerSecond) return false;
    this.counters.floodCloses++;
    this.sendEvents(conn, [statusError('too many messages')]);
    this.closeConn(conn, 1008, 'too many messages');
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
    const live = this.liveAuthenticated();
    this.counters.maxConcurrentAuthenticated = Math.max(this.counters.maxConcurrentAuthenticated, live.length);
    const now = Date.now();
    this.emitSafe('authenticated', conn.id, now);
    // One connection per key: the newcomer wins, every older one on the key is kicked.
    for (const other of live) if (other !== conn && other.apiKey === key) this.kick(other);
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
        const lost = this.dropAckProbability > 0 && this.rng() < this.dropAckProbability;
        if (op.action === 'subscribe') {
          conn.activeChannels.add(channel);
          if (isA && wild) conn.wildcard = true;
          else if (isA) conn.activeSymbols.add(parsed.symbol);
          if (lost) {
            this.counters.acksDropped++;
            continue;
          }
          events.push(serverEvents.subscribed(channel));
          this.counters.acksSent++;
          if (isA && !wild) {
            conn.acked.add(parsed.symbol);
            subscribed.push(parsed.symbol);
          }
        } else {
          conn.activeChannels.delete(channel);
          if (isA && wild) conn.wildcard = false;
          else if (isA) {
            conn.activeSymbols.delete(parsed.symbol);
            conn.acked.delete(parsed.symbol);
          }
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

  private aggregateTick(): void {
    if (this.silent) return;
    const live = this.liveAuthenticated();
    if (live.length === 0) return;
    const now = Date.now();
    // Window ends on the tick's grid (whole seconds by default), strictly increasing.
    let e = Math.floor(now / this.aggregateIntervalMs) * this.aggregateIntervalMs;
    if (e <= this.lastWindowEnd) e = this.lastWindowEnd + this.aggregateIntervalMs;
    this.lastWindowEnd = e;
    const s = e - 1000;
    const built = new Map<string, AggregateEvent | undefined>();
    const eventOf = (sym: string): AggregateEvent | undefined => {
      if (built.has(sym)) return built.get(sym);
      let ev: AggregateEvent | undefined;
      try {
        const trade = this.priceSource(sym, now);
        ev = trade ? this.book.build(sym, s, e, trade) : undefined;
      } catch (err) {
        this.log.warn({ event: 'simulator_price_source_failed', symbol: sym, err: (err as Error).message });
      }
      built.set(sym, ev);
      return ev;
    };
    for (const conn of live) {
      const symbols = conn.wildcard ? new Set([...this.universe, ...conn.activeSymbols]) : conn.activeSymbols;
      if (symbols.size === 0) continue;
      const events: AggregateEvent[] = [];
      for (const sym of symbols) {
        const ev = eventOf(sym);
        if (ev) events.push(ev);
      }
      if (events.length > 0 && this.sendEvents(conn, events)) this.counters.aggregatesSent += events.length;
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
    const sym = conn.activeSymbols.values().next().value ?? 'AAPL';
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
    for (const t of [this.aggregateTimer, this.pingTimer, this.schedule1008Timer, this.malformedTimer]) {
      if (t) clearInterval(t);
    }
    this.aggregateTimer = this.pingTimer = this.schedule1008Timer = this.malformedTimer = null;
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
              c.serverCloseCode = 1001;
              this.clearConnTimers(c);
              try {
                c.ws.close(1001, 'server shutting down');
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
