// The official JS client (@massive.com/client-js) as a test drives it: a recorder around the
// socket its `websocketClient(apiKey, apiBase).stocks()` hands out.
//
// Pointing it at the simulator takes no hack: `apiBase` is the documented second argument (its
// README: `websocketClient(key, 'wss://delayed.massive.com').stocks()`), the client appends
// `/stocks`, and the simulator serves any path. What it hands out is a bare W3C WebSocket of the
// `websocket` package, with `onopen` already set to send `{"action":"auth","params":key}`: the
// client's whole protocol logic. It has no reconnect, no heartbeat, no subscription bookkeeping.

import { websocketClient } from '@massive.com/client-js';
import { eventually } from '../helpers/wait.js';

/** What the tests use of the W3C WebSocket the client returns (its .d.ts types it from `websocket`, not installed with it). */
export interface W3CSocket {
  readonly readyState: number;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export const OPEN = 1;
export const CLOSED = 3;

export interface WireEvent {
  ev: string;
  [field: string]: unknown;
}

/** The simulator's URL as the client wants it: scheme, host and port; the client adds `/stocks`. */
export function apiBaseOf(sim: { host: string; port: number }): string {
  return `ws://${sim.host}:${sim.port}`;
}

export class OfficialClient {
  readonly ws: W3CSocket;
  /** Every event of every frame, in order, with the time it arrived. */
  readonly received: { at: number; event: WireEvent }[] = [];
  closeCode: number | null = null;
  closeReason: string | null = null;

  /**
   * `beforeOpen` runs right after the client built the socket, before it opens: the place a
   * caller following the client's README assigns its own handlers.
   */
  constructor(apiKey: string, apiBase: string, beforeOpen?: (ws: W3CSocket) => void) {
    // The .d.ts types this as `websocket.w3cwebsocket`, a package whose types are not installed.
    const ws: W3CSocket = websocketClient(apiKey, apiBase).stocks() as W3CSocket;
    this.ws = ws;
    ws.onmessage = ({ data }) => {
      const at = Date.now();
      const parsed = JSON.parse(String(data)) as unknown;
      if (!Array.isArray(parsed)) throw new Error(`a frame that is not an array: ${String(data).slice(0, 200)}`);
      for (const event of parsed as WireEvent[]) this.received.push({ at, event });
    };
    ws.onclose = ({ code, reason }) => {
      this.closeCode = code;
      this.closeReason = reason;
    };
    ws.onerror = () => undefined;
    beforeOpen?.(ws);
  }

  events(ev?: string): WireEvent[] {
    const all = this.received.map((r) => r.event);
    return ev === undefined ? all : all.filter((e) => e.ev === ev);
  }

  statuses(): WireEvent[] {
    return this.events('status');
  }

  /** Sends a control message the way the client's README does: a JSON string on its socket. */
  send(action: 'subscribe' | 'unsubscribe', params: string): void {
    this.ws.send(JSON.stringify({ action, params }));
  }

  async waitStatus(pred: (s: WireEvent) => boolean, what: string, timeoutMs = 20_000): Promise<WireEvent> {
    return eventually(() => this.statuses().find(pred), what, timeoutMs);
  }

  async waitAuthenticated(): Promise<void> {
    await this.waitStatus((s) => s.status === 'auth_success', 'auth_success');
  }

  async waitClosed(timeoutMs = 20_000): Promise<number> {
    return eventually(() => this.closeCode, 'the close event', timeoutMs);
  }

  /** Closes its side, and resolves once the socket is closed (or after a grace period, whatever happens). */
  async close(): Promise<void> {
    if (this.ws.readyState === CLOSED) return;
    // CONNECTING (0) or OPEN (1); while connecting, the `websocket` package closes once it connects.
    if (this.ws.readyState <= OPEN) this.ws.close(1000, 'test done');
    await eventually(() => this.ws.readyState === CLOSED, 'the official client closed', 10_000).catch(() => undefined);
  }
}
