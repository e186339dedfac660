import type { Logger } from '../shared/logger.js';
import { fillBucket, takeToken, type TokenBucket } from '../shared/rate-limiter.js';
import type { Category } from '../shared/redis-keys.js';
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { ClientGroups, type Grouped } from './client-groups.js';
import {
  aggregateMessage,
  encodeAggregatesFrames,
  encodeError,
  parseClientMessage,
  PONG_MESSAGE,
  unknownListsMessage,
  type ClientErrorCode,
  type ClientRequest,
} from './client-protocol.js';
import { CLOSE_CODES, type WsLimits } from './limits.js';
import { listBit as bit, listsOfMask, popcount } from './list-mask.js';
import type { ListStore } from './list-store.js';
import { wsMetrics, WsTally, type DropReason, type OutKind } from './ws-metrics.js';

// The browser connections: who is subscribed to which list, and every byte sent to them. A
// broadcast is serialised once by its producer and the same Buffer is written to each socket;
// before each write the client's queue is checked, so one slow reader is dropped instead of
// making the process hold an unbounded backlog for it.
//
// Live prices go out a tick at a time (the aggregates read together from the stream): selected
// and encoded once per group of clients watching the same lists, and written to each client in
// one go (its socket corked for the tick), so a client costs one system call per tick, not one
// per price. That per-price write was what delayed prices even with few clients: 200 prices
// times 100 clients were 20,000 writes in a row, ~160 ms of one core per tick
// (bench/ws-aggregates.bench.ts).

/** A live price of the current tick: the lists holding its symbol when read, and its item JSON. */
export interface TickPrice {
  lists: number;
  item: string;
}

/**
 * A client connection with the hub's state on it. The WebSocketServer creates these (its
 * `WebSocket` option), so a client costs one object, not a socket plus a record plus closures:
 * memory per client is what bounds how many a process serves.
 */
export class HubSocket extends WebSocket implements Grouped, TokenBucket {
  hubId = 0;
  remote = '';
  /** Subscribed lists, one bit per CATEGORIES index (list-mask.ts). */
  lists = 0;
  /** Live prices as `aggregates` frames (asked with `batch: true`). */
  batch = false;
  tokens = 0;
  refillAt = 0;
  alive = true;
  closing = false;
  closeTimer: NodeJS.Timeout | null = null;

  /** The upgraded TCP socket, as handleUpgrade gave it (ws exposes no public handle on it). */
  tcp: Duplex | null = null;

  /** Hold this client's writes in memory until releaseWrites, to go out in one system call. */
  holdWrites(): void {
    this.tcp?.cork();
  }

  releaseWrites(): void {
    this.tcp?.uncork();
  }
}

const TEXT_FRAME = { binary: false, compress: false } as const;

export interface ClientHubOptions {
  store: ListStore;
  limits: WsLimits;
  log: Logger;
  now?: () => number;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class ClientHub {
  /** This hub's counts; the Prometheus series read them (ws-metrics.ts). */
  readonly stats = new WsTally();
  private readonly clients = new Set<HubSocket>();
  private readonly subscribers = new Map<Category, Set<HubSocket>>();
  private readonly groups = new ClientGroups<HubSocket>();
  private readonly now: () => number;
  private heartbeat: NodeJS.Timeout | null = null;
  private nextId = 1;
  private readonly listeners: {
    message: (this: WebSocket, data: RawData, isBinary: boolean) => void;
    pong: (this: WebSocket) => void;
    error: (this: WebSocket, err: Error) => void;
    close: (this: WebSocket, code: number) => void;
  };

  constructor(private readonly opts: ClientHubOptions) {
    this.now = opts.now ?? Date.now;
    // The listeners are plain functions: their own `this` is the socket.
    const hub: ClientHub = this;
    this.listeners = {
      message(data, isBinary) {
        hub.onMessage(this as HubSocket, data, isBinary);
      },
      pong() {
        (this as HubSocket).alive = true;
      },
      error(err) {
        hub.onSocketError(this as HubSocket, err as Error & { code?: string });
      },
      close(code) {
        hub.detach(this as HubSocket, code);
      },
    };
  }

  get size(): number {
    return this.clients.size;
  }

  /** Subscribers of a list now (for tests and the status page). */
  subscriberCount(list: Category): number {
    return this.subscribers.get(list)?.size ?? 0;
  }

  /** Take over a connection the server accepted (created by a WebSocketServer with `WebSocket: HubSocket`). */
  attach(c: HubSocket, remote: string, tcp: Duplex | null = null): HubSocket {
    c.hubId = this.nextId++;
    c.remote = remote;
    c.tcp = tcp;
    fillBucket(c, this.opts.limits.messageBurst, this.now());
    this.clients.add(c);
    this.stats.clients = this.clients.size;
    this.stats.connections++;
    // The same four functions for every client: `this` is the socket.
    c.on('message', this.listeners.message);
    c.on('pong', this.listeners.pong);
    c.on('error', this.listeners.error);
    c.on('close', this.listeners.close);
    this.opts.log.debug({ event: 'ws_client_connected', client_id: c.hubId, remote });
    return c;
  }

  /** A refused upgrade (bad origin, too many clients), counted with the drops. */
  recordRefusal(reason: 'origin_refused' | 'capacity', remote: string, detail?: string): void {
    this.countDrop(reason);
    this.opts.log.warn({ event: 'ws_client_refused', reason, remote, detail });
  }

  /** Send the list's current snapshot to every subscriber (after a bootstrap or a gap). */
  broadcastSnapshot(list: Category): number {
    return this.broadcastList(list, this.opts.store.snapshotFrame(list), 'snapshot');
  }

  broadcastDelta(list: Category, frame: Buffer): number {
    return this.broadcastList(list, frame, 'delta');
  }

  /** Distinct sets of lists watched now (how many times a tick is encoded, at most twice each). */
  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * One tick of live prices, to each client the prices of the symbols in at least one of its
   * lists, each once: to a batching client in `aggregates` frames of at most
   * `limits.batchFrameBytes`, to the others one `aggregate` message per price. Returns the
   * frames written.
   */
  broadcastTick(prices: readonly TickPrice[]): number {
    if (prices.length === 0) return 0;
    const started = process.hrtime.bigint();
    const singles = new Array<Buffer | undefined>(prices.length);
    let written = 0;
    for (const g of this.groups.values()) {
      const picked: number[] = [];
      for (let i = 0; i < prices.length; i++) if (((prices[i] as TickPrice).lists & g.mask) !== 0) picked.push(i);
      if (picked.length === 0) continue;
      if (g.batched.size > 0) {
        const frames = encodeAggregatesFrames(
          picked.map((i) => (prices[i] as TickPrice).item),
          this.opts.limits.batchFrameBytes,
        );
        written += this.writeAll(g.batched, frames, 'aggregates');
      }
      if (g.single.size > 0) {
        const frames = picked.map((i) => (singles[i] ??= Buffer.from(aggregateMessage((prices[i] as TickPrice).item), 'utf8')));
        written += this.writeAll(g.single, frames, 'aggregate');
      }
    }
    wsMetrics.tickFanout.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return written;
  }

  /** The same frames, in order, to each client, each client's in one system call. */
  private writeAll(clients: Iterable<HubSocket>, frames: readonly Buffer[], kind: OutKind): number {
    let n = 0;
    let bytes = 0;
    for (const c of clients) {
      c.holdWrites();
      try {
        for (const f of frames) {
          if (!this.write(c, f)) break;
          n++;
          bytes += f.length;
        }
      } finally {
        c.releaseWrites();
      }
    }
    if (n > 0) this.count(kind, n, bytes);
    return n;
  }

  private broadcastList(list: Category, frame: Buffer, kind: OutKind): number {
    const subs = this.subscribers.get(list);
    if (!subs || subs.size === 0) return 0;
    let n = 0;
    for (const c of subs) if (this.write(c, frame)) n++;
    if (n > 0) this.count(kind, n, n * frame.length);
    return n;
  }

  /** The only place bytes leave for a client. */
  private write(c: HubSocket, frame: Buffer): boolean {
    if (c.closing || c.readyState !== WebSocket.OPEN) return false;
    const queued = c.bufferedAmount;
    if (queued > this.opts.limits.sendBufferBytes) {
      this.drop(c, 'slow_consumer', CLOSE_CODES.tryAgainLater, 'slow consumer: send buffer full', { buffered_bytes: queued });
      return false;
    }
    c.send(frame, TEXT_FRAME);
    return true;
  }

  private sendOne(c: HubSocket, frame: Buffer, kind: OutKind): void {
    if (this.write(c, frame)) this.count(kind, 1, frame.length);
  }

  private count(kind: OutKind, messages: number, bytes: number): void {
    this.stats.messages_out[kind] += messages;
    this.stats.bytes_out[kind] += bytes;
  }

  private countDrop(reason: DropReason): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  private sendError(c: HubSocket, code: ClientErrorCode, message: string): void {
    this.stats.client_errors[code] = (this.stats.client_errors[code] ?? 0) + 1;
    this.opts.log.debug({ event: 'ws_client_request_refused', client_id: c.hubId, code, message });
    this.sendOne(c, Buffer.from(encodeError(code, message), 'utf8'), 'error');
  }

  private onMessage(c: HubSocket, data: RawData, isBinary: boolean): void {
    if (c.closing) return;
    c.alive = true;
    const { maxMessagesPerSecond, messageBurst } = this.opts.limits;
    if (!takeToken(c, this.now(), maxMessagesPerSecond, messageBurst)) {
      this.drop(c, 'rate_limit', CLOSE_CODES.policyViolation, 'rate limit exceeded');
      return;
    }
    if (isBinary) {
      this.sendError(c, 'binary_not_supported', 'binary frames are not accepted: send JSON text frames');
      return;
    }
    let parsed;
    try {
      parsed = parseClientMessage(toBuffer(data).toString('utf8'));
    } catch (err) {
      // parseClientMessage does not throw; this guards the server against a future mistake.
      this.opts.log.error({ event: 'ws_client_message_crash', client_id: c.hubId, err });
      return;
    }
    if (!parsed.ok) {
      this.sendError(c, parsed.code, parsed.message);
      return;
    }
    this.handle(c, parsed.request);
  }

  private handle(c: HubSocket, req: ClientRequest): void {
    if (req.action === 'ping') {
      this.sendOne(c, Buffer.from(PONG_MESSAGE), 'pong');
      return;
    }
    const { lists, unknown } = req;
    switch (req.action) {
      case 'subscribe': {
        let wanted = c.lists;
        for (const list of lists) wanted |= bit(list);
        if (popcount(wanted) > this.opts.limits.maxListsPerClient) {
          this.sendError(c, 'too_many_lists', `at most ${this.opts.limits.maxListsPerClient} lists per connection`);
          return;
        }
        this.groups.set(c, wanted, req.batch ?? c.batch);
        for (const list of lists) {
          let subs = this.subscribers.get(list);
          if (!subs) {
            subs = new Set();
            this.subscribers.set(list, subs);
          }
          subs.add(c);
          this.sendOne(c, this.opts.store.snapshotFrame(list), 'snapshot');
        }
        break;
      }
      case 'unsubscribe': {
        let left = c.lists;
        for (const list of lists) {
          left &= ~bit(list);
          this.subscribers.get(list)?.delete(c);
        }
        this.groups.set(c, left, c.batch);
        break;
      }
      case 'resync': {
        const missing = lists.filter((l) => (c.lists & bit(l)) === 0);
        for (const list of lists) if ((c.lists & bit(list)) !== 0) this.sendOne(c, this.opts.store.snapshotFrame(list), 'snapshot');
        if (missing.length) this.sendError(c, 'not_subscribed', `not subscribed to ${missing.join(', ')}: subscribe first`);
        break;
      }
    }
    if (unknown.length) this.sendError(c, 'unknown_list', unknownListsMessage(unknown));
  }

  private unsubscribeAll(c: HubSocket): void {
    for (const list of listsOfMask(c.lists)) this.subscribers.get(list)?.delete(c);
    this.groups.set(c, 0, c.batch);
  }

  private onSocketError(c: HubSocket, err: Error & { code?: string }): void {
    // ws has already started closing (1009 for an oversized frame, 1002/1007 for the rest).
    const reason: DropReason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'oversized' : 'protocol_error';
    if (c.closing) return;
    c.closing = true;
    this.unsubscribeAll(c);
    this.countDrop(reason);
    this.opts.log.warn({ event: 'ws_client_dropped', client_id: c.hubId, remote: c.remote, reason, error: err.message });
    this.armTerminate(c);
  }

  private drop(
    c: HubSocket,
    reason: DropReason,
    code: number,
    text: string,
    extra: Record<string, unknown> = {},
  ): void {
    if (c.closing) return;
    c.closing = true;
    this.unsubscribeAll(c);
    this.countDrop(reason);
    this.opts.log.warn({ event: 'ws_client_dropped', client_id: c.hubId, remote: c.remote, reason, close_code: code, ...extra });
    if (reason === 'dead') {
      c.terminate();
      return;
    }
    try {
      c.close(code, text);
    } catch {
      c.terminate();
      return;
    }
    // A slow client does not read its close frame either: cut it off after a grace period.
    this.armTerminate(c);
  }

  private armTerminate(c: HubSocket): void {
    if (c.closeTimer) return;
    c.closeTimer = setTimeout(() => c.terminate(), this.opts.limits.closeGraceMs);
    c.closeTimer.unref();
  }

  private detach(c: HubSocket, code: number): void {
    if (!this.clients.delete(c)) return;
    if (c.closeTimer) clearTimeout(c.closeTimer);
    this.unsubscribeAll(c);
    c.closing = true;
    this.stats.clients = this.clients.size;
    this.opts.log.debug({ event: 'ws_client_disconnected', client_id: c.hubId, close_code: code });
  }

  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.beat(), this.opts.limits.heartbeatMs);
    this.heartbeat.unref();
  }

  private beat(): void {
    for (const c of this.clients) {
      if (c.closing) continue;
      if (!c.alive) {
        this.drop(c, 'dead', CLOSE_CODES.goingAway, 'no pong');
        continue;
      }
      c.alive = false;
      try {
        c.ping();
      } catch {
        // A socket that cannot take a ping is closing already; 'close' will detach it.
      }
    }
  }

  /** Close every client (1001) and wait for them, terminating stragglers. */
  async close(timeoutMs = 1_000): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const waits: Promise<void>[] = [];
    for (const c of this.clients) {
      c.closing = true;
      waits.push(
        new Promise<void>((resolve) => {
          if (c.readyState === WebSocket.CLOSED) return resolve();
          c.once('close', () => resolve());
        }),
      );
      try {
        c.close(CLOSE_CODES.goingAway, 'server shutting down');
      } catch {
        c.terminate();
      }
    }
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.all(waits), timer]);
    for (const c of this.clients) c.terminate();
  }
}
