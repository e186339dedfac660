// A bare `ws` client for the simulator's tests: records every frame as received, so tests can
// assert on batching and order, and waits with `eventually` instead of sleeping.

import { WebSocket } from 'ws';
import { eventually } from '../helpers/wait.js';

export interface StatusLike {
  ev: string;
  status?: string;
  message?: string;
  [k: string]: unknown;
}

export class SimClient {
  readonly ws: WebSocket;
  /** Raw text of every frame, in order. */
  readonly raw: string[] = [];
  /** Every frame parsed (null when it was not JSON). */
  readonly frames: unknown[] = [];
  pings = 0;
  pongs = 0;
  closeCode: number | null = null;
  closeReason: string | null = null;
  private readonly opened: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push(null);
      }
    });
    this.ws.on('ping', () => this.pings++);
    this.ws.on('pong', () => this.pongs++);
    this.ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
    });
    this.ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  static async connect(url: string): Promise<SimClient> {
    const c = new SimClient(url);
    await c.opened;
    return c;
  }

  /** Every event of every array frame, flattened. */
  events(): StatusLike[] {
    const out: StatusLike[] = [];
    for (const f of this.frames) if (Array.isArray(f)) out.push(...(f as StatusLike[]));
    return out;
  }

  statuses(): StatusLike[] {
    return this.events().filter((e) => e.ev === 'status');
  }

  aggregates(): StatusLike[] {
    return this.events().filter((e) => e.ev === 'A');
  }

  send(obj: unknown): void {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  async waitStatus(pred: (s: StatusLike) => boolean, what: string): Promise<StatusLike> {
    const found = await eventually(() => this.statuses().find(pred), what, 10_000);
    if (!found) throw new Error(`no ${what}`);
    return found;
  }

  async waitMessage(message: string): Promise<StatusLike> {
    return this.waitStatus((s) => s.message === message, `status "${message}"`);
  }

  async auth(key = 'sim-key'): Promise<void> {
    await this.waitMessage('Connected Successfully');
    this.send({ action: 'auth', params: key });
    await this.waitStatus((s) => s.status === 'auth_success', 'auth_success');
  }

  async waitClosed(): Promise<number> {
    const code = await eventually(() => this.closeCode, 'close', 10_000);
    return code ?? 0;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
      // A silent server never answers the close frame.
      setTimeout(() => this.ws.terminate(), 500).unref();
    });
  }
}
