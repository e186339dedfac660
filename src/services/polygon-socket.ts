import WebSocket from 'ws';
import { fromCallback } from 'xstate';
import type { ConnectionEvent, SocketCommand } from '../machines/connection.machine.js';
import type { Logger } from '../shared/logger.js';
import { LogThrottle } from '../shared/log-throttle.js';
import { counter } from '../shared/metrics.js';
import { encodeAuth, encodeSubscription, type Aggregate } from '../upstream/codec.js';
import { AckBatch, handleFrame, type SocketStats } from './polygon-socket/frame-handler.js';
import { SEND_MEMORY_MS, SendMemory } from './polygon-socket/send-memory.js';

export type { SocketStats } from './polygon-socket/frame-handler.js';

// The upstream socket as an actor: one instance per connection attempt, invoked by the
// connection machine's `open` state and closed by stopping it. It reads fast and hands off
// (polygon-socket/frame-handler.ts): aggregates go straight to `onAggregates` (never through the
// statechart), acknowledgements are gathered per tick into one ACKED event, and nothing slow runs
// on the read path, because the upstream drops clients that read too slowly. What we sent lately
// (polygon-socket/send-memory.ts) is the context a close is read in.

export interface PolygonSocketDeps {
  url: string;
  apiKey: string;
  log: Logger;
  stats: SocketStats;
  onAggregates: (aggs: Aggregate[]) => void;
  /** We ping too (the provider's own client pings every 25 s). */
  pingIntervalMs?: number;
  /** Largest frame accepted from the upstream. */
  maxPayloadBytes?: number;
}

const messagesIn = counter('livescan_upstream_messages_in_total', 'Frames received from the upstream');
const messagesOut = counter('livescan_upstream_messages_out_total', 'Messages sent to the upstream', ['action']);

export interface PolygonSocketService {
  /** The actor logic to provide as the connection machine's `socket`. */
  logic: ReturnType<typeof fromCallback<SocketCommand>>;
  /** Resolves once every socket this service opened is closed (TCP included). */
  closed(): Promise<void>;
  /** What we sent to the upstream within the last `windowMs`, on any socket: the close log's context. */
  recentSends(windowMs: number): { messages: number; channels: number };
}

interface SocketShared {
  deps: PolygonSocketDeps;
  rejectedLog: LogThrottle;
  sends: SendMemory;
  /** Every socket not yet closed, as the promise of its close. */
  open: Set<Promise<void>>;
}

/** At most one HEARTBEAT a second reaches the machine: it only needs to know we are alive. */
function heartbeat(sendBack: (e: ConnectionEvent) => void): () => void {
  let lastBeat = -Infinity;
  return () => {
    // Monotonic: a wall-clock step must not silence the heartbeat.
    const now = performance.now();
    if (now - lastBeat < 1000) return;
    lastBeat = now;
    sendBack({ type: 'HEARTBEAT' });
  };
}

/** One connection attempt: the socket, its ping, its reading and its close. Returns the actor's cleanup. */
function runSocket(shared: SocketShared, sendBack: (e: ConnectionEvent) => void, receive: (listener: (cmd: SocketCommand) => void) => void): () => void {
  const { deps, sends } = shared;
  const { log, stats } = deps;
  const ws = new WebSocket(deps.url, { maxPayload: deps.maxPayloadBytes ?? 64 * 1024 * 1024, handshakeTimeout: 10_000 });
  const gone = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  shared.open.add(gone);
  void gone.then(() => shared.open.delete(gone));
  let closed = false;
  const openedAt = performance.now();
  const beat = heartbeat(sendBack);
  const acks = new AckBatch(sendBack);
  // Built once per socket, not per frame: the read path allocates nothing it can avoid.
  const frameContext = { stats, log, rejectedLog: shared.rejectedLog, onAggregates: deps.onAggregates, sendBack, acks };

  const send = (text: string, action: string, channels: number): boolean => {
    if (ws.readyState !== WebSocket.OPEN) {
      log.warn({ event: 'upstream_send_dropped', action, reason: 'socket_not_open' });
      return false;
    }
    ws.send(text);
    // Control messages only: the auth that opens every connection is no burst of ours.
    if (action !== 'auth') sends.remember(performance.now(), channels);
    stats.messagesOut++;
    messagesOut.inc({ action });
    return true;
  };

  const ping = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.ping();
  }, deps.pingIntervalMs ?? 25_000);

  ws.on('open', () => {
    log.info({ event: 'upstream_socket_open' });
    beat();
    // Auth goes out on open, as the official JS and Go clients do: the first status may read
    // `connected` or `success`, and waiting for one exact word could wait forever.
    sendBack({ type: 'UPSTREAM_CONNECTED' });
  });
  ws.on('pong', beat);
  ws.on('ping', beat);

  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    stats.messagesIn++;
    messagesIn.inc();
    beat();
    handleFrame(isBinary ? '' : data.toString(), frameContext);
  });

  ws.on('error', (err: Error) => {
    stats.lastError = err.message;
    log.warn({ event: 'upstream_socket_error', error: err.message });
  });

  ws.on('close', (code: number, reason: Buffer) => {
    clearInterval(ping);
    acks.sendNow();
    if (closed) return;
    closed = true;
    const why = reason.toString();
    // The close's one line, with its cause and lifetime, comes from the role's telemetry.
    log.debug({ event: 'upstream_socket_closed', code, reason: why });
    const now = performance.now();
    sendBack({ type: 'SOCKET_CLOSED', code, reason: why, recentSendsMs: sends.recent(now, openedAt, SEND_MEMORY_MS).map((r) => Math.round(now - r.at)) });
  });

  receive((cmd) => {
    if (cmd.type === 'AUTHENTICATE') {
      send(encodeAuth(deps.apiKey), 'auth', 0);
    } else {
      send(encodeSubscription(cmd.action, cmd.symbols), cmd.action, cmd.symbols.length);
    }
  });

  return () => {
    closed = true;
    clearInterval(ping);
    acks.cancel();
    if (ws.readyState === WebSocket.OPEN) {
      ws.close(1000, 'client closing');
      // close() only starts the handshake: a peer that never answers would keep the TCP
      // connection (and, for the upstream, our slot) for ws's 30 s close timeout.
      setTimeout(() => ws.terminate(), 1_000).unref();
    } else ws.terminate();
  };
}

export function createPolygonSocket(deps: PolygonSocketDeps): PolygonSocketService {
  const shared: SocketShared = { deps, rejectedLog: new LogThrottle(deps.log, 10_000), sends: new SendMemory(), open: new Set() };
  const logic = fromCallback<SocketCommand>(({ sendBack, receive }) => runSocket(shared, (e: ConnectionEvent) => sendBack(e), receive));
  return {
    logic,
    closed: async () => void (await Promise.all([...shared.open])),
    recentSends: (windowMs) => shared.sends.summary(performance.now(), windowMs),
  };
}
