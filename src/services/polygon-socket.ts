import WebSocket from 'ws';
import { fromCallback } from 'xstate';
import type { ConnectionEvent, SocketCommand } from '../machines/connection.machine.js';
import type { Logger } from '../shared/logger.js';
import { LogThrottle } from '../shared/log-throttle.js';
import { counter } from '../shared/metrics.js';
import { decodeServerFrame, encodeAuth, encodeSubscription, type Aggregate } from '../upstream/codec.js';

// The upstream socket as an actor: one instance per connection attempt, invoked by the
// connection machine's `open` state and closed by stopping it. It reads fast and hands off:
// aggregates go straight to `onAggregates` (never through the statechart), acknowledgements are
// gathered per tick into one ACKED event, and nothing slow runs on the read path, because the
// upstream drops clients that read too slowly.

export interface SocketStats {
  messagesIn: number;
  messagesOut: number;
  framesRejected: number;
  lastError: string | null;
}

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

const framesRejected = counter('livescan_upstream_frames_rejected_total', 'Upstream events that could not be understood', ['reason']);
const messagesIn = counter('livescan_upstream_messages_in_total', 'Frames received from the upstream');
const messagesOut = counter('livescan_upstream_messages_out_total', 'Messages sent to the upstream', ['action']);
const aggregatesIn = counter('livescan_aggregates_in_total', 'Per-second aggregates received from the upstream');

export interface PolygonSocketService {
  /** The actor logic to provide as the connection machine's `socket`. */
  logic: ReturnType<typeof fromCallback<SocketCommand>>;
  /** Resolves once every socket this service opened is closed (TCP included). */
  closed(): Promise<void>;
  /** What we sent to the upstream within the last `windowMs`, on any socket: the close log's context. */
  recentSends(windowMs: number): { messages: number; channels: number };
}

/** How far back a close looks at our own messages: longer than any burst window worth a setting. */
const SEND_MEMORY_MS = 10_000;
const SEND_MEMORY_COUNT = 256;

interface SendRecord {
  at: number;
  channels: number;
}

export function createPolygonSocket(deps: PolygonSocketDeps): PolygonSocketService {
  const { log, stats } = deps;
  const open = new Set<Promise<void>>();
  // A frame of a thousand bad events is a thousand counts but not a thousand lines.
  const rejectedLog = new LogThrottle(log, 10_000);
  // Newest last; bounded by count and, when read, by age.
  const sends: SendRecord[] = [];
  const remember = (channels: number) => {
    sends.push({ at: performance.now(), channels });
    if (sends.length > SEND_MEMORY_COUNT) sends.splice(0, sends.length - SEND_MEMORY_COUNT);
  };
  /** Our recent messages, newest first, sent since `since` and within `windowMs` of now. */
  const recent = (since: number, windowMs: number): SendRecord[] => {
    const now = performance.now();
    const out: SendRecord[] = [];
    for (let i = sends.length - 1; i >= 0; i--) {
      const r = sends[i] as SendRecord;
      if (r.at < since || now - r.at > windowMs) break;
      out.push(r);
    }
    return out;
  };
  const logic = fromCallback<SocketCommand>(({ sendBack: send_, receive }) => {
    const sendBack = (e: ConnectionEvent) => send_(e);
    const ws = new WebSocket(deps.url, { maxPayload: deps.maxPayloadBytes ?? 64 * 1024 * 1024, handshakeTimeout: 10_000 });
    const gone = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    open.add(gone);
    void gone.then(() => open.delete(gone));
    let closed = false;
    const openedAt = performance.now();
    let lastBeat = -Infinity;
    let ackFlush: NodeJS.Immediate | null = null;
    let subscribed: string[] = [];
    let unsubscribed: string[] = [];

    const beat = () => {
      // At most one HEARTBEAT a second reaches the machine: it only needs to know we are alive.
      // Monotonic: a wall-clock step must not silence the heartbeat.
      const now = performance.now();
      if (now - lastBeat < 1000) return;
      lastBeat = now;
      sendBack({ type: 'HEARTBEAT' });
    };

    const flushAcks = () => {
      ackFlush = null;
      if (subscribed.length === 0 && unsubscribed.length === 0) return;
      sendBack({ type: 'ACKED', subscribed, unsubscribed });
      subscribed = [];
      unsubscribed = [];
    };

    const send = (text: string, action: string, channels: number): boolean => {
      if (ws.readyState !== WebSocket.OPEN) {
        log.warn({ event: 'upstream_send_dropped', action, reason: 'socket_not_open' });
        return false;
      }
      ws.send(text);
      // Control messages only: the auth that opens every connection is no burst of ours.
      if (action !== 'auth') remember(channels);
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
      const text = isBinary ? '' : data.toString();
      const frame = decodeServerFrame(text);
      for (const r of frame.rejected) {
        stats.framesRejected++;
        framesRejected.inc({ reason: r.reason });
        rejectedLog.warn(r.reason, { event: 'upstream_frame_rejected', reason: r.reason, sample: r.sample });
      }
      if (frame.aggregates.length > 0) {
        aggregatesIn.inc(frame.aggregates.length);
        deps.onAggregates(frame.aggregates);
      }
      for (const st of frame.statuses) {
        switch (st.kind) {
          case 'connected':
            log.info({ event: 'upstream_status', status: st.status, message: st.message });
            break;
          case 'auth_success':
            log.info({ event: 'upstream_authenticated' });
            sendBack({ type: 'AUTH_SUCCESS' });
            break;
          case 'auth_failed':
            stats.lastError = `auth_failed: ${st.message}`;
            sendBack({ type: 'AUTH_FAILED', message: st.message });
            break;
          case 'max_connections':
            stats.lastError = `max_connections: ${st.message}`;
            sendBack({ type: 'KICKED', message: st.message });
            break;
          case 'slow_consumer':
          case 'force_disconnect':
          case 'auth_timeout':
            stats.lastError = `${st.kind}: ${st.message}`;
            sendBack({ type: 'UPSTREAM_DROPPED', status: st.kind, message: st.message });
            break;
          case 'subscribed':
            subscribed.push(...(st.symbols ?? []));
            break;
          case 'unsubscribed':
            unsubscribed.push(...(st.symbols ?? []));
            break;
          case 'auth_required':
          case 'error':
            stats.lastError = `${st.status}: ${st.message}`;
            log.warn({ event: 'upstream_status_error', status: st.status, message: st.message });
            break;
          case 'other':
            // A status no document lists: information, worth a line, never a crash.
            log.info({ event: 'upstream_status_unknown', status: st.status, message: st.message });
            break;
        }
      }
      // Acks of one subscribe message often span frames: gather them for this tick.
      if ((subscribed.length > 0 || unsubscribed.length > 0) && !ackFlush) ackFlush = setImmediate(flushAcks);
    });

    ws.on('error', (err: Error) => {
      stats.lastError = err.message;
      log.warn({ event: 'upstream_socket_error', error: err.message });
    });

    ws.on('close', (code: number, reason: Buffer) => {
      clearInterval(ping);
      if (ackFlush) {
        clearImmediate(ackFlush);
        flushAcks();
      }
      if (closed) return;
      closed = true;
      const why = reason.toString();
      // The close's one line, with its cause and lifetime, comes from the role's telemetry.
      log.debug({ event: 'upstream_socket_closed', code, reason: why });
      const now = performance.now();
      sendBack({ type: 'SOCKET_CLOSED', code, reason: why, recentSendsMs: recent(openedAt, SEND_MEMORY_MS).map((r) => Math.round(now - r.at)) });
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
      if (ackFlush) clearImmediate(ackFlush);
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(1000, 'client closing');
        // close() only starts the handshake: a peer that never answers would keep the TCP
        // connection (and, for the upstream, our slot) for ws's 30 s close timeout.
        setTimeout(() => ws.terminate(), 1_000).unref();
      } else ws.terminate();
    };
  });

  return {
    logic,
    closed: async () => void (await Promise.all([...open])),
    recentSends(windowMs) {
      const within = recent(-Infinity, windowMs);
      return { messages: within.length, channels: within.reduce((n, r) => n + r.channels, 0) };
    },
  };
}
