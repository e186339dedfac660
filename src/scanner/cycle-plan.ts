import { CATEGORIES, type Category } from '../shared/redis-keys.js';
import { computeCategories, type CategoryLists, type CategoryRules } from './categories.js';
import { rankingMessage, type RankingMessage } from './deltas.js';
import type { MarketSession } from './market-session.js';
import type { MarketSnapshot } from './market-snapshot.js';

// Everything one scan must write, decided without touching Redis: the lists, the SET, one ranking
// message per list, and the subscribe/unsubscribe events. The publisher writes a plan in one
// transaction; the scanner adopts `plan.next` only once that transaction has succeeded, so a
// failed publish leaves the memory of what readers saw untouched.

export const SUBSCRIPTION_SOURCE = 'scanner_auto';

/** What the scanner remembers of one list between scans. */
export interface ListMemory {
  /** The list readers last received; null when unknown (start, restart, after a failed publish). */
  rows: CategoryLists[Category] | null;
  /** The sequence of the last message published for this list (0: none yet). */
  sequence: number;
  /** Deltas published since the last snapshot of this list. */
  sinceSnapshot: number;
}

export interface ScannerMemory {
  lists: Record<Category, ListMemory>;
  /** The SET as last published (sorted). */
  active: string[];
}

/** What survives a restart: read back from Redis at start. */
export interface PersistedScannerState {
  sequences: Partial<Record<Category, number>>;
  active: readonly string[];
}

export interface SubscriptionEvent {
  symbol: string;
  action: 'subscribe' | 'unsubscribe';
  source: typeof SUBSCRIPTION_SOURCE;
  session: MarketSession;
  /** ISO 8601. */
  timestamp: string;
}

export interface CycleStats {
  tickers: number;
  rejected: number;
  active: number;
  snapshots: number;
  deltas: number;
  changes: number;
  subscribes: number;
  unsubscribes: number;
  rows: Record<Category, number>;
}

export interface CyclePlan {
  source: MarketSnapshot['source'];
  takenAtMs: number;
  session: MarketSession;
  lists: CategoryLists;
  /** Every distinct symbol of every list, sorted: the new `polygon_ws:active_tickers`. */
  active: string[];
  messages: RankingMessage[];
  events: SubscriptionEvent[];
  sequences: Record<Category, number>;
  stats: CycleStats;
  /** The memory to adopt once this plan is published. */
  next: ScannerMemory;
}

export interface PlanOptions {
  /** A list gets a snapshot instead of a delta at least every this many messages. */
  snapshotEvery: number;
}

export const DEFAULT_SNAPSHOT_EVERY = 30;

/** The memory after a (re)start: sequences continue, every list starts (its next message is a snapshot). */
export function memoryFromPersisted(p: PersistedScannerState): ScannerMemory {
  const lists = {} as Record<Category, ListMemory>;
  for (const c of CATEGORIES) {
    const seq = p.sequences[c];
    lists[c] = { rows: null, sequence: seq !== undefined && Number.isSafeInteger(seq) && seq > 0 ? seq : 0, sinceSnapshot: 0 };
  }
  return { lists, active: [...new Set(p.active)].sort() };
}

/** Plan one scan from already computed lists. */
export function planCycle(
  memory: ScannerMemory,
  lists: CategoryLists,
  meta: { source: MarketSnapshot['source']; takenAtMs: number; session: MarketSession; tickers?: number; rejected?: number },
  opts: PlanOptions = { snapshotEvery: DEFAULT_SNAPSHOT_EVERY },
): CyclePlan {
  const messages: RankingMessage[] = [];
  const nextLists = {} as Record<Category, ListMemory>;
  const sequences = {} as Record<Category, number>;
  const rowsCount = {} as Record<Category, number>;
  const union = new Set<string>();
  let snapshots = 0;
  let deltas = 0;
  let changes = 0;

  for (const c of CATEGORIES) {
    const mem = memory.lists[c];
    const rows = lists[c];
    for (const r of rows) union.add(r.symbol);
    const sequence = mem.sequence + 1;
    const msg = rankingMessage({
      list: c,
      sequence,
      previous: mem.rows,
      rows,
      forceSnapshot: mem.sinceSnapshot + 1 >= Math.max(1, opts.snapshotEvery),
    });
    messages.push(msg);
    if (msg.type === 'snapshot') snapshots++;
    else {
      deltas++;
      changes += msg.change_count;
    }
    nextLists[c] = { rows, sequence, sinceSnapshot: msg.type === 'snapshot' ? 0 : mem.sinceSnapshot + 1 };
    sequences[c] = sequence;
    rowsCount[c] = rows.length;
  }

  const active = [...union].sort();
  const before = new Set(memory.active);
  const timestamp = new Date(meta.takenAtMs).toISOString();
  const events: SubscriptionEvent[] = [];
  for (const s of active) {
    if (!before.has(s)) events.push({ symbol: s, action: 'subscribe', source: SUBSCRIPTION_SOURCE, session: meta.session, timestamp });
  }
  const subscribes = events.length;
  for (const s of memory.active) {
    if (!union.has(s)) events.push({ symbol: s, action: 'unsubscribe', source: SUBSCRIPTION_SOURCE, session: meta.session, timestamp });
  }

  return {
    source: meta.source,
    takenAtMs: meta.takenAtMs,
    session: meta.session,
    lists,
    active,
    messages,
    events,
    sequences,
    stats: {
      tickers: meta.tickers ?? 0,
      rejected: meta.rejected ?? 0,
      active: active.length,
      snapshots,
      deltas,
      changes,
      subscribes,
      unsubscribes: events.length - subscribes,
      rows: rowsCount,
    },
    next: { lists: nextLists, active },
  };
}

/** Rank a snapshot and plan its scan: the whole pure half of a cycle. */
export function planScan(memory: ScannerMemory, snap: MarketSnapshot, rules: CategoryRules, opts: PlanOptions): CyclePlan {
  const lists = computeCategories(snap, rules);
  return planCycle(
    memory,
    lists,
    { source: snap.source, takenAtMs: snap.takenAtMs, session: snap.session, tickers: snap.tickers.length, rejected: snap.rejected },
    opts,
  );
}
