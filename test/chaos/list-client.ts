import WebSocket from 'ws';
import { applyDeltas, DeltaApplyError, type RankedRow, type RankingMessage } from '../../src/scanner/deltas.js';
import { CATEGORIES, isCategory, type Category } from '../../src/shared/redis-keys.js';

// A well-behaved browser client of the ws-server, as README "Client protocol" describes one:
// subscribes to every list, keeps each list from its snapshot and the deltas that follow, asks for
// a resync on a sequence gap (one request for all the lists concerned, to stay far below the
// per-client rate limit), and reconnects with a back-off when the server goes away. Deltas are
// applied with the scanner's strict `applyDeltas`, which throws when a delta does not fit the list
// held: such a delta is counted (it means the client was sent something inconsistent) and the list
// is resynced.

export type Row = RankedRow & Record<string, unknown>;

interface ListState {
  sequence: number;
  rows: Row[];
}

export interface ListClientStats {
  connects: number;
  closes: number;
  snapshots: number;
  deltas: number;
  sequenceGaps: number;
  applyErrors: number;
  resyncRequests: number;
  serverErrors: number;
}

export class ListClient {
  readonly stats: ListClientStats = {
    connects: 0,
    closes: 0,
    snapshots: 0,
    deltas: 0,
    sequenceGaps: 0,
    applyErrors: 0,
    resyncRequests: 0,
    serverErrors: 0,
  };
  private readonly lists = new Map<Category, ListState>();
  /** Lists whose deltas are ignored until a snapshot comes (after a gap, or a reconnect). */
  private readonly awaitingSnapshot = new Set<Category>(CATEGORIES);
  private readonly resyncQueue = new Set<Category>();
  private resyncTimer: NodeJS.Timeout | null = null;
  private ws: WebSocket | null = null;
  private closed = false;
  private retryMs = 100;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    private readonly url: string,
  ) {}

  start(): void {
    this.closed = false;
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.ws?.terminate();
    this.ws = null;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Every list has had a snapshot on the current connection, and none awaits one. */
  get complete(): boolean {
    return this.connected && this.awaitingSnapshot.size === 0 && this.lists.size === CATEGORIES.length;
  }

  rows(list: Category): Row[] | undefined {
    return this.lists.get(list)?.rows;
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('open', () => {
      this.stats.connects++;
      this.retryMs = 100;
      // A new connection starts every list afresh: its sequences are this connection's.
      for (const c of CATEGORIES) this.awaitingSnapshot.add(c);
      ws.send(JSON.stringify({ action: 'subscribe', lists: CATEGORIES }));
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) return;
      this.onMessage(data.toString());
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.stats.closes++;
      this.ws = null;
      if (this.closed) return;
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(2000, this.retryMs * 2);
    });
  }

  private onMessage(text: string): void {
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { type?: unknown; list?: unknown; sequence?: unknown };
    if (msg.type === 'error') {
      this.stats.serverErrors++;
      return;
    }
    if ((msg.type !== 'snapshot' && msg.type !== 'delta') || !isCategory(msg.list) || typeof msg.sequence !== 'number') return;
    const list = msg.list;
    const ranking = m as RankingMessage<Row>;
    if (ranking.type === 'snapshot') {
      this.stats.snapshots++;
      this.lists.set(list, { sequence: ranking.sequence, rows: ranking.rows.slice() });
      this.awaitingSnapshot.delete(list);
      return;
    }
    this.stats.deltas++;
    if (this.awaitingSnapshot.has(list)) return;
    const held = this.lists.get(list);
    if (!held || ranking.sequence !== held.sequence + 1) {
      this.stats.sequenceGaps++;
      this.resync(list);
      return;
    }
    try {
      this.lists.set(list, { sequence: ranking.sequence, rows: applyDeltas(held.rows, ranking) });
    } catch (err) {
      if (!(err instanceof DeltaApplyError)) throw err;
      this.stats.applyErrors++;
      this.resync(list);
    }
  }

  private resync(list: Category): void {
    this.awaitingSnapshot.add(list);
    this.resyncQueue.add(list);
    this.resyncTimer ??= setTimeout(() => {
      this.resyncTimer = null;
      const lists = [...this.resyncQueue];
      this.resyncQueue.clear();
      if (lists.length === 0 || this.ws?.readyState !== WebSocket.OPEN) return;
      this.stats.resyncRequests++;
      this.ws.send(JSON.stringify({ action: 'resync', lists }));
    }, 50);
  }
}
