// One frame from the upstream, read fast and handed off: aggregates straight to their consumer
// (never through the statechart), statuses to the connection machine as events, and
// acknowledgements gathered per tick into one ACKED event (the acks of one subscribe message
// often span frames).

import type { ConnectionEvent } from '../../machines/connection.machine.js';
import type { Logger } from '../../shared/logger.js';
import type { LogThrottle } from '../../shared/log-throttle.js';
import { counter } from '../../shared/metrics.js';
import { decodeServerFrame, type Aggregate, type StatusEvent } from '../../upstream/codec.js';

/** The figures a socket keeps for the HTTP view; one object shared by every socket of a service. */
export interface SocketStats {
  messagesIn: number;
  messagesOut: number;
  framesRejected: number;
  lastError: string | null;
}

const framesRejected = counter('livescan_upstream_frames_rejected_total', 'Upstream events that could not be understood', ['reason']);
const aggregatesIn = counter('livescan_aggregates_in_total', 'Per-second aggregates received from the upstream');

/** Acks gathered until the end of the tick, then sent as one ACKED event. */
export class AckBatch {
  private subscribed: string[] = [];
  private unsubscribed: string[] = [];
  private flush: NodeJS.Immediate | null = null;

  constructor(private readonly sendBack: (e: ConnectionEvent) => void) {}

  add(kind: 'subscribed' | 'unsubscribed', symbols: readonly string[]): void {
    this[kind].push(...symbols);
  }

  /** Sends what was gathered at the end of this tick (once, however many frames add to it). */
  schedule(): void {
    if ((this.subscribed.length > 0 || this.unsubscribed.length > 0) && !this.flush) this.flush = setImmediate(() => this.send());
  }

  /** The socket closed: what waits goes now, before the close. */
  sendNow(): void {
    if (!this.flush) return;
    clearImmediate(this.flush);
    this.send();
  }

  cancel(): void {
    if (this.flush) clearImmediate(this.flush);
    this.flush = null;
  }

  private send(): void {
    this.flush = null;
    if (this.subscribed.length === 0 && this.unsubscribed.length === 0) return;
    this.sendBack({ type: 'ACKED', subscribed: this.subscribed, unsubscribed: this.unsubscribed });
    this.subscribed = [];
    this.unsubscribed = [];
  }
}

export interface FrameContext {
  stats: SocketStats;
  log: Logger;
  /** A frame of a thousand bad events is a thousand counts but not a thousand lines. */
  rejectedLog: LogThrottle;
  onAggregates: (aggs: Aggregate[]) => void;
  sendBack: (e: ConnectionEvent) => void;
  acks: AckBatch;
}

export function handleFrame(text: string, ctx: FrameContext): void {
  const frame = decodeServerFrame(text);
  for (const r of frame.rejected) {
    ctx.stats.framesRejected++;
    framesRejected.inc({ reason: r.reason });
    ctx.rejectedLog.warn(r.reason, { event: 'upstream_frame_rejected', reason: r.reason, sample: r.sample });
  }
  if (frame.aggregates.length > 0) {
    aggregatesIn.inc(frame.aggregates.length);
    ctx.onAggregates(frame.aggregates);
  }
  for (const st of frame.statuses) handleStatus(st, ctx);
  ctx.acks.schedule();
}

function handleStatus(st: StatusEvent, { stats, log, sendBack, acks }: FrameContext): void {
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
    case 'unsubscribed':
      acks.add(st.kind, st.symbols ?? []);
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
