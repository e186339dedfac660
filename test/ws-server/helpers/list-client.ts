import { WebSocket } from 'ws';
import type { Category } from '../../../src/shared/redis-keys.js';
import { applyDeltaItems, type DeltaItem, type Row } from '../../../src/ws-server/list-store.js';

// A browser-like client of the ws-server protocol that checks what it receives: every delta
// must be exactly the next of its list, and the lists it rebuilds must match the scanner's.

export interface ServerMessage {
  type: string;
  list?: Category;
  sequence?: number;
  rows?: Row[];
  deltas?: DeltaItem[];
  change_count?: number;
  symbol?: string;
  price?: number;
  time?: number;
  message?: string;
  code?: string;
  items?: { symbol: string; price: number; time: number; volume?: number }[];
}

export class ListClient {
  readonly lists = new Map<Category, { sequence: number; rows: Row[] }>();
  readonly violations: string[] = [];
  readonly messages: ServerMessage[] = [];
  readonly aggregates: ServerMessage[] = [];
  /** `aggregates` frames, with their size in bytes beside them. */
  readonly batches: { message: ServerMessage; bytes: number }[] = [];
  readonly errors: ServerMessage[] = [];
  snapshots = 0;
  deltas = 0;
  closeCode: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', (code) => (this.closeCode = code));
    ws.on('error', () => undefined);
  }

  static connect(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<ListClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const c = new ListClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  subscribe(lists: readonly string[]): void {
    this.send({ action: 'subscribe', lists });
  }

  private onMessage(text: string): void {
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      this.violations.push(`not JSON: ${text.slice(0, 80)}`);
      return;
    }
    this.messages.push(m);
    if (m.type === 'snapshot' && m.list && m.rows && typeof m.sequence === 'number') {
      this.snapshots++;
      this.lists.set(m.list, { sequence: m.sequence, rows: m.rows });
    } else if (m.type === 'delta' && m.list && m.deltas && typeof m.sequence === 'number') {
      this.deltas++;
      const l = this.lists.get(m.list);
      if (!l) {
        this.violations.push(`delta ${m.list}#${m.sequence} before any snapshot`);
        return;
      }
      if (m.sequence !== l.sequence + 1) {
        this.violations.push(`delta ${m.list}#${m.sequence} after #${l.sequence}`);
      }
      this.lists.set(m.list, { sequence: m.sequence, rows: applyDeltaItems(l.rows, m.deltas) });
    } else if (m.type === 'aggregate') {
      this.aggregates.push(m);
    } else if (m.type === 'aggregates') {
      this.batches.push({ message: m, bytes: Buffer.byteLength(text) });
    } else if (m.type === 'error') {
      this.errors.push(m);
    }
  }

  /** The items of every `aggregates` frame received, in order. */
  batchItems(): NonNullable<ServerMessage['items']> {
    return this.batches.flatMap((b) => b.message.items ?? []);
  }

  rows(list: Category): Row[] | undefined {
    return this.lists.get(list)?.rows;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
      setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2_000).unref();
    });
  }
}
