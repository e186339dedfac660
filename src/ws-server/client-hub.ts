import type { Logger } from '../shared/logger.js';
import { fillBucket, takeToken, type TokenBucket } from '../shared/rate-limiter.js';
import { CATEGORIES, type Category } from '../shared/redis-keys.js';
import { WebSocket, type RawData } from 'ws';
import { AggregateRouter, type Stamped } from './aggregate-router.js';
import {
  encodeError,
  parseClientMessage,
  PONG_MESSAGE,
  unknownListsMessage,
  type ClientErrorCode,
  type ClientRequest,
} from './client-protocol.js';
import { CLOSE_CODES, type WsLimits } from './limits.js';
import type { ListStore } from './list-store.js';
import { wsMetrics, type DropReason, type OutKind } from './ws-metrics.js';

// The browser connections: who is subscribed to which list, and every byte sent to them. A
// broadcast is serialised once by its producer and the same Buffer is written to each socket;
// before each write the client's queue is checked, so one slow reader is dropped instead of
// making the process hold an unbounded backlog for it.

const LIST_BIT = new Map<Category, number>(CATEGORIES.map((c, i) => [c, 1 << i]));
function bit(list: Category): number {
  return LIST_BIT.get(list) ?? 0;
}

/**
 * A client connection with the hub's state on it. The WebSocketServer creates these (its
 * `WebSocket` option), so a client costs one object, not a socket plus a record plus closures:
 * memory per client is what bounds how many a process serves.
 */
export class HubSocket extends WebSocket implements Stamped, TokenBucket {
  hubId = 0;
  remote = '';
  /** Subscribed lists, one bit per CATEGORIES index. */
  lists = 0;
  aggStamp = 0;
  tokens = 0;
  refillAt = 0;
  alive = true;
  closing = false;
  closeTimer: NodeJS.Timeout | null = null;
}

function subscribedLists(c: HubSocket): Category[] {
  return CATEGORIES.filter((l) => (c.lists & bit(l)) !== 0);
}

const OUT_KINDS: readonly OutKind[] = ['snapshot', 'delta', 'aggregate', 'error', 'pong'];
const TEXT_FRAME = { binary: false, compress: false } as const;

export interface HubStats {
  clients: number;
  connections: number;
  messages_out: Record<OutKind, number>;
  bytes_out: Record<OutKind, number>;
  drops: Partial<Record<DropReason, number>>;
  client_errors: Partial<Record<ClientErrorCode, number>>;
}

export interface ClientHubOptions {
  store: ListStore;
  limits: WsLimits;
  log: Logger;
  now?: () => number;
}

function popcount(n: number): number {
  let k = 0;
  for (let x = n; x; x &= x - 1) k++;
  return k;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class ClientHub {
  readonly stats: HubStats;
  private readonly clients = new Set<HubSocket>();
  private readonly subscribers = new Map<Category, Set<HubSocket>>();
  private readonly router: AggregateRouter<HubSocket>;
  private readonly outMessages;
  private readonly outBytes;
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
    this.router = new AggregateRouter<HubSocket>(
      (symbol) => opts.store.listsOf(symbol),
      (list) => this.subscribers.get(list),
    );
    const zero = () => Object.fromEntries(OUT_KINDS.map((k) => [k, 0])) as Record<OutKind, number>;
    this.stats = { clients: 0, connections: 0, messages_out: zero(), bytes_out: zero(), drops: {}, client_errors: {} };
    this.outMessages = Object.fromEntries(OUT_KINDS.map((k) => [k, wsMetrics.messagesOut.labels(k)])) as Record<
      OutKind,
      ReturnType<typeof wsMetrics.messagesOut.labels>
    >;
    this.outBytes = Object.fromEntries(OUT_KINDS.map((k) => [k, wsMetrics.bytesOut.labels(k)])) as Record<
      OutKind,
      ReturnType<typeof wsMetrics.bytesOut.labels>
    >;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Subscribers of a list now (for tests and the status page). */
  subscriberCount(list: Category): number {
    return this.subscribers.get(list)?.size ?? 0;
  }

  /** Take over a connection the server accepted (created by a WebSocketServer with `WebSocket: HubSocket`). */
  attach(c: HubSocket, remote: string): HubSocket {
    c.hubId = this.nextId++;
    c.remote = remote;
    fillBucket(c, this.opts.limits.messageBurst, this.now());
    this.clients.add(c);
    this.stats.clients = this.clients.size;
    this.stats.connections++;
    wsMetrics.clients.set(this.clients.size);
    wsMetrics.connections.inc();
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

  /** One aggregate to each client watching a list that holds `symbol`, once per client. */
  broadcastAggregate(symbol: string, frame: Buffer): number {
    const n = this.router.route(symbol, (c) => this.write(c, frame));
    if (n > 0) this.count('aggregate', n, n * frame.length);
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
    this.outMessages[kind].inc(messages);
    this.outBytes[kind].inc(bytes);
  }

  private countDrop(reason: DropReason): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    wsMetrics.drops.inc({ reason });
  }

  private sendError(c: HubSocket, code: ClientErrorCode, message: string): void {
    this.stats.client_errors[code] = (this.stats.client_errors[code] ?? 0) + 1;
    wsMetrics.clientErrors.inc({ code });
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
        for (const list of lists) {
          c.lists |= bit(list);
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
      case 'unsubscribe':
        for (const list of lists) {
          c.lists &= ~bit(list);
          this.subscribers.get(list)?.delete(c);
        }
        break;
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
    for (const list of subscribedLists(c)) this.subscribers.get(list)?.delete(c);
    c.lists = 0;
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
    wsMetrics.clients.set(this.clients.size);
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
