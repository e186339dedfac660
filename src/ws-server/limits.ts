import { CATEGORIES } from '../shared/redis-keys.js';

// What one browser client may cost the server. Every bound here protects the other clients: a
// client that passes one is refused a request (error message) or dropped (close code), never
// allowed to grow the server's memory or CPU without limit.

export interface WsLimits {
  /** Largest client frame accepted; a bigger one closes the connection with 1009 (ws does it). */
  maxMessageBytes: number;
  /** Sustained client messages per second (token bucket refill rate). */
  maxMessagesPerSecond: number;
  /** Messages a client may send at once before the rate applies (bucket size). */
  messageBurst: number;
  /** Lists one connection may be subscribed to at the same time. */
  maxListsPerClient: number;
  /**
   * Bytes queued for one client (ws `bufferedAmount`) above which it is a slow consumer: it is
   * closed with 1013 instead of being sent more.
   */
  sendBufferBytes: number;
  /**
   * Largest `aggregates` frame sent: a bigger batch is split into several frames. 16 KiB holds a
   * tick of ~200 prices in one frame and is far below any browser's or proxy's frame limit.
   */
  batchFrameBytes: number;
  /** Ping period; a client that has not answered the previous ping is terminated. */
  heartbeatMs: number;
  /** Connections accepted at once; the next upgrade is refused with HTTP 503. */
  maxClients: number;
  /** How long a closing client may take to finish the close handshake before it is terminated. */
  closeGraceMs: number;
}

export const DEFAULT_WS_LIMITS: Readonly<WsLimits> = Object.freeze({
  maxMessageBytes: 4 * 1024,
  maxMessagesPerSecond: 10,
  messageBurst: 30,
  maxListsPerClient: CATEGORIES.length,
  sendBufferBytes: 1024 * 1024,
  batchFrameBytes: 16 * 1024,
  heartbeatMs: 30_000,
  maxClients: 20_000,
  closeGraceMs: 2_000,
});

export function resolveLimits(overrides: Partial<WsLimits> = {}): WsLimits {
  const out: WsLimits = { ...DEFAULT_WS_LIMITS };
  for (const [k, v] of Object.entries(overrides) as [keyof WsLimits, number | undefined][]) {
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v;
  }
  return out;
}

/** Close codes the server uses (RFC 6455 §7.4.1 and the IANA registry). */
export const CLOSE_CODES = {
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  tryAgainLater: 1013,
} as const;
