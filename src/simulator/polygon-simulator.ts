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
//
// This file is the server (the socket, its connections, the ping and shutdown) and the public
// face; each concern is a file of its own: options.ts, session.ts and session-protocol.ts (auth,
// subscriptions), ack-queue.ts, faults.ts, market.ts (windows, lateness), ground-truth.ts and
// stats.ts.

import { EventEmitter } from 'node:events';
import { WebSocketServer, WebSocket } from 'ws';
import type { Logger } from '../shared/logger.js';
import { Faults, type MalformedKind } from './faults.js';
import { ClientMessageLog, GroundTruth, type ClientMessageRecord, type ConnectionInfo } from './ground-truth.js';
import { Market } from './market.js';
import { resolveSettings, type FirstStatus, type PolygonSimulatorOptions, type Schedule1008Range, type SimulatorSettings, type Target } from './options.js';
import type { PolygonSimulatorEvents, ServerContext } from './server-context.js';
import { SessionProtocol } from './session-protocol.js';
import { SessionRegistry, clearSessionTimers, isLive, type Session } from './session.js';
import { SimulatorCounters, type SimulatorStats } from './stats.js';

export type { PriceSource, AggregateEvent } from './aggregate-source.js';
export { CHANNEL_PREFIXES, type ChannelPrefix } from './events.js';
export type { MinuteAggregateEvent, TradeEvent, QuoteEvent, LuldEvent, ImbalanceEvent, DataEvent } from './events.js';
export { MALFORMED_KINDS, type MalformedKind } from './faults.js';
export type { ClientMessageRecord, ConnectionInfo } from './ground-truth.js';
export {
  OBSERVED_LATENESS,
  ROBUSTNESS_FAULTS,
  type FirstStatus,
  type Lateness,
  type PolygonSimulatorOptions,
  type Schedule1008Range,
  type Target,
} from './options.js';
export type { PolygonSimulatorEvents } from './server-context.js';
export type { SimulatorStats } from './stats.js';

/**
 * The close code of close(): 1012 (service restart). The official Python client takes 1000 and
 * 1001 (its `websockets` library's ConnectionClosedOK) as "closed for good" and stops; every other
 * code (ConnectionClosedError) makes it reconnect, as the Go client does for anything but 1000.
 * The official JS client has no reconnect logic of its own (it hands out a bare W3C WebSocket) and
 * its `websocket` library accepts 1012 as a valid code. 1011 would read "internal error": a
 * shutdown of the simulator is a restart of the service, not a failure.
 */
export const SHUTDOWN_CLOSE_CODE = 1012;

export class PolygonSimulator extends EventEmitter<PolygonSimulatorEvents> {
  readonly host: string;
  private wss: WebSocketServer | null = null;
  private _port = 0;
  private readonly settings: SimulatorSettings;
  private readonly log: Logger;
  private readonly sessions = new SessionRegistry();
  private readonly counters = new SimulatorCounters();
  private readonly truth = new GroundTruth(this.sessions);
  private readonly clientLog: ClientMessageLog;
  private readonly faults: Faults;
  private readonly market: Market;
  private readonly protocol: SessionProtocol;
  private silent = false;
  private shuttingDown: Promise<void> | null = null;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(opts: PolygonSimulatorOptions = {}) {
    super();
    // Checked before anything else: a refused fault or a bad range must not leave a bound port behind.
    const settings = resolveSettings(opts);
    this.settings = settings;
    this.host = settings.host;
    this.log = settings.log;
    this.clientLog = new ClientMessageLog(settings.clientLogSize);
    const ctx: ServerContext = {
      log: this.log,
      counters: this.counters,
      sessions: this.sessions,
      isSilent: () => this.silent,
      isShuttingDown: () => this.shuttingDown !== null,
      sendEvents: (s, events, evenIfSilent) => this.sendRaw(s, JSON.stringify(events), evenIfSilent),
      sendRaw: (s, payload, evenIfSilent) => this.sendRaw(s, payload, evenIfSilent),
      emit: (name, ...args) => this.emitSafe(name, ...args),
    };
    this.faults = new Faults(ctx, settings);
    this.market = new Market(ctx, settings);
    this.protocol = new SessionProtocol({ ctx, faults: this.faults, clientLog: this.clientLog, apiKeys: settings.apiKeys, authTimeoutMs: settings.authTimeoutMs });
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
      port: this.settings.port,
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

    this.market.start();
    const { pingIntervalMs } = this.settings;
    if (pingIntervalMs > 0) this.pingTimer = setInterval(() => this.pingTick(), pingIntervalMs);
    this.setSchedule1008(this.settings.schedule1008EveryMs);
    this.setMalformedEvery(this.settings.malformedEveryMs);
    this.log.info({ event: 'simulator_listening', url: this.url });
  }

  // ---- ground truth -------------------------------------------------------------------------

  /**
   * The A symbols whose subscribe ack went out (and that were not unsubscribed since) on the given
   * connection, or on the newest live authenticated one (empty if there is none).
   */
  acknowledged(connId?: string): Set<string> {
    return this.truth.acknowledged(connId);
  }

  /** The A symbols the server applies (streams data for), acknowledged or not (lost acks). */
  subscriptions(connId?: string): Set<string> {
    return this.truth.subscriptions(connId);
  }

  /**
   * Every channel of any prefix (`AM.AAPL`, `T.*`...) whose subscribe ack went out and that was not
   * unsubscribed since, on the given connection or the newest live authenticated one.
   */
  acknowledgedChannels(connId?: string): Set<string> {
    return this.truth.acknowledgedChannels(connId);
  }

  /** Every channel of any prefix the server applies, acknowledged or not. */
  channels(connId?: string): Set<string> {
    return this.truth.channels(connId);
  }

  /** True when the simulator refuses the faults the real server never shows (ROBUSTNESS_FAULTS). */
  isStrictProvider(): boolean {
    return this.faults.isStrict();
  }

  /** The id of the newest live authenticated connection, if any. */
  liveConnectionId(): string | undefined {
    return this.sessions.newestLive()?.id;
  }

  connections(): ConnectionInfo[] {
    return this.truth.connections();
  }

  clientMessages(): ClientMessageRecord[] {
    return this.clientLog.all();
  }

  stats(): SimulatorStats {
    return this.counters.snapshot(this.sessions.openCount(), this.sessions.liveAuthenticated().length);
  }

  // ---- faults (faults.ts) -------------------------------------------------------------------

  /** Close with 1008 (policy violation), no status first. Returns how many connections. */
  close1008(which: Target = 'all'): number {
    return this.faults.close1008(which);
  }

  /**
   * Close every live authenticated connection with a bare 1008 every `schedule` ms, or after gaps
   * drawn in turn from a range; null (or a non-positive number) stops it.
   */
  setSchedule1008(schedule: number | Schedule1008Range | null): void {
    this.faults.setSchedule1008(schedule);
  }

  /**
   * Every connection that authenticates from now on is closed with a bare 1008 `ms` after its
   * auth_success; null stops it (connections already authenticated keep their fate).
   */
  setDieYoung(ms: number | null): void {
    this.faults.setDieYoung(ms);
  }

  /**
   * The limit on subscribe/unsubscribe messages per sliding second and connection; 0 turns it off.
   * An undocumented hypothesis: strict mode refuses a limit.
   */
  setMaxMessagesPerSecond(n: number): void {
    this.faults.setMaxMessagesPerSecond(n);
  }

  /** The status of the first frame of connections opened from now on. */
  setFirstStatus(status: FirstStatus): void {
    this.faults.setFirstStatus(status);
  }

  /** Status max_connections, then close 1008, as when another connection takes the key. */
  kickWithMaxConnections(which: Target = 'all'): number {
    return this.faults.kickWithMaxConnections(which);
  }

  /** Status slow_consumer, then close 1008. */
  dropSlowConsumer(which: Target = 'all'): number {
    return this.faults.dropSlowConsumer(which);
  }

  /** Status force_disconnect, then close 1008. */
  forceDisconnect(which: Target = 'all'): number {
    return this.faults.forceDisconnect(which);
  }

  /** One malformed frame to each targeted live authenticated connection. A robustness fault: strict mode refuses it. */
  sendMalformed(kind: MalformedKind, which: Target = 'all'): number {
    return this.faults.sendMalformed(kind, which);
  }

  /**
   * A malformed frame (kinds in turn) to every live authenticated connection every `ms`; null stops
   * it. A robustness fault: strict mode refuses to start it.
   */
  setMalformedEvery(ms: number | null): void {
    this.faults.setMalformedEvery(ms);
  }

  /** Applies to messages received from now on; earlier ones keep their due time (order is kept). */
  setAckDelay(ms: number): void {
    this.faults.setAckDelay(ms);
  }

  /** Probability (0..1) that one channel's ack is lost. An undocumented hypothesis: strict mode refuses p > 0. */
  dropAcks(probability: number): void {
    this.faults.dropAcks(probability);
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
    if (!silent) for (const s of this.sessions.all()) this.protocol.flushAcks(s);
  }

  isSilent(): boolean {
    return this.silent;
  }

  /** Closes every socket (SHUTDOWN_CLOSE_CODE, then cut if the client does not answer), stops every timer. */
  close(): Promise<void> {
    this.shuttingDown ??= this.shutdown();
    return this.shuttingDown;
  }

  // ---- the server ---------------------------------------------------------------------------

  private onConnection(ws: WebSocket): void {
    if (this.shuttingDown) {
      ws.terminate();
      return;
    }
    const now = Date.now();
    const s = this.sessions.open(ws, now);
    this.counters.counts.connectionsTotal++;
    this.log.debug({ event: 'simulator_connection_opened', connId: s.id });

    ws.on('message', (data) => this.protocol.onMessage(s, data));
    ws.on('ping', (data) => {
      if (!this.silent && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on('pong', () => {
      this.counters.counts.pongsReceived++;
      s.awaitingPong = false;
    });
    ws.on('error', (err) => this.log.debug({ event: 'simulator_socket_error', connId: s.id, err: err.message }));
    ws.on('close', (code, reason) => this.protocol.onClose(s, code, reason.toString('utf8')));

    this.protocol.armAuthTimeout(s);
    this.faults.greet(s);
    this.emitSafe('connection', s.id, now);
  }

  private sendRaw(s: Session, payload: string, evenIfSilent = false): boolean {
    if ((this.silent && !evenIfSilent) || !isLive(s)) return false;
    s.ws.send(payload);
    this.counters.counts.framesSent++;
    const { slowConsumerBytes } = this.settings;
    if (slowConsumerBytes > 0 && s.ws.bufferedAmount > slowConsumerBytes) this.faults.dropSlow(s);
    return true;
  }

  private pingTick(): void {
    if (this.silent) return;
    for (const c of this.sessions.all()) {
      if (!isLive(c)) continue;
      // Like the real server, a client that answered no ping in a whole interval is dead: drop it.
      if (c.awaitingPong) {
        this.counters.counts.deadPeersDropped++;
        this.log.info({ event: 'simulator_dead_peer_dropped', connId: c.id });
        c.closing = true;
        c.ws.terminate();
        continue;
      }
      c.awaitingPong = true;
      c.ws.ping();
      this.counters.counts.pingsSent++;
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
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.market.stop();
    this.faults.stop();
    const open = [...this.sessions.all()].filter((c) => c.closedAt === undefined);
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
              clearSessionTimers(c);
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
    for (const c of this.sessions.all()) clearSessionTimers(c);
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
