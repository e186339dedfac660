import { CATEGORIES, type Category } from '../shared/redis-keys.js';
import { encodeSnapshot } from './client-protocol.js';

// The ws-server's memory of the scanner's lists: the last state of each list with the scanner's
// sequence number, and the seeds' `symbolToLists` index (symbol -> lists holding it) that routes
// aggregates. Rows are never mutated in place, so a serialised snapshot stays valid until the
// list changes.

export type Row = { symbol: string; [field: string]: unknown };

export type DeltaAction = 'add' | 'remove' | 'update' | 'rerank';

/** One change of a `delta` message, in the scanner's format; unknown fields are kept and forwarded. */
export interface DeltaItem {
  action: DeltaAction;
  symbol: string;
  data?: Record<string, unknown>;
  rank?: number;
  new_rank?: number;
  old_rank?: number;
  [field: string]: unknown;
}

function rankOf(row: Row): number {
  return typeof row.rank === 'number' && Number.isFinite(row.rank) ? row.rank : Number.POSITIVE_INFINITY;
}

/**
 * The list after `items`, applied in order. Every action sets state rather than changing it
 * (add of a present symbol replaces it, remove of an absent one is nothing), so applying a delta
 * to a list that already holds its effect changes nothing: that is what lets a re-bootstrap
 * apply the delta that revealed a gap on top of a category key of uncertain age.
 * The result is ordered by `rank` (stable; rows without a numeric rank last).
 */
export function applyDeltaItems(rows: readonly Row[], items: readonly DeltaItem[]): Row[] {
  const bySymbol = new Map<string, Row>();
  for (const r of rows) bySymbol.set(r.symbol, r);
  for (const item of items) {
    const { symbol } = item;
    switch (item.action) {
      case 'add': {
        const row: Row = { symbol, ...(item.data ?? {}) };
        row.symbol = symbol;
        if (row.rank === undefined && typeof item.rank === 'number') row.rank = item.rank;
        bySymbol.set(symbol, row);
        break;
      }
      case 'update': {
        const row: Row = { ...(bySymbol.get(symbol) ?? { symbol }), ...(item.data ?? {}) };
        row.symbol = symbol;
        if (item.data?.rank === undefined && typeof item.rank === 'number') row.rank = item.rank;
        bySymbol.set(symbol, row);
        break;
      }
      case 'remove':
        bySymbol.delete(symbol);
        break;
      case 'rerank': {
        const old = bySymbol.get(symbol);
        if (old && typeof item.new_rank === 'number') bySymbol.set(symbol, { ...old, rank: item.new_rank });
        break;
      }
    }
  }
  return [...bySymbol.values()].sort((a, b) => rankOf(a) - rankOf(b) || 0);
}

export interface ListView {
  readonly name: Category;
  /** The scanner's sequence of this state; meaningful for the next delta only when `known`. */
  readonly sequence: number;
  /** False after a bootstrap that could not tell which scanner message the rows correspond to. */
  readonly known: boolean;
  readonly rows: readonly Row[];
}

/** What a delta with this sequence is to the list: the next one, one already applied, or a gap. */
export type SequenceStep = 'next' | 'duplicate' | 'gap';

interface ListState {
  rows: readonly Row[];
  rowsJson: string;
  sequence: number;
  known: boolean;
  frame: Buffer | null;
}

export class ListStore {
  private readonly lists = new Map<Category, ListState>();
  private readonly index = new Map<string, Set<Category>>();

  constructor() {
    for (const name of CATEGORIES) {
      this.lists.set(name, { rows: [], rowsJson: '[]', sequence: 0, known: false, frame: null });
    }
  }

  private state(list: Category): ListState {
    const s = this.lists.get(list);
    if (!s) throw new Error(`unknown list ${list}`);
    return s;
  }

  get(list: Category): ListView {
    const s = this.state(list);
    return { name: list, sequence: s.sequence, known: s.known, rows: s.rows };
  }

  step(list: Category, sequence: number): SequenceStep {
    const s = this.state(list);
    if (!s.known) return 'gap';
    if (sequence === s.sequence + 1) return 'next';
    if (sequence === s.sequence) return 'duplicate';
    return 'gap';
  }

  /**
   * Replace a list. `sequence` null: the rows' scanner sequence is unknown, so the next delta
   * will be treated as a gap. Returns whether anything a client can see changed.
   */
  replace(list: Category, rows: readonly Row[], sequence: number | null): boolean {
    const s = this.state(list);
    const rowsJson = JSON.stringify(rows);
    const known = sequence !== null;
    const seq = sequence ?? s.sequence;
    const changed = rowsJson !== s.rowsJson || seq !== s.sequence || known !== s.known;
    this.reindex(list, s.rows, rows);
    s.rows = rows;
    s.rowsJson = rowsJson;
    s.sequence = seq;
    s.known = known;
    if (changed) s.frame = null;
    return changed;
  }

  /** Apply the delta numbered `sequence` (the caller checked `step(...) === 'next'`). */
  apply(list: Category, items: readonly DeltaItem[], sequence: number): void {
    const s = this.state(list);
    const rows = applyDeltaItems(s.rows, items);
    this.reindex(list, s.rows, rows);
    s.rows = rows;
    s.rowsJson = JSON.stringify(rows);
    s.sequence = sequence;
    s.known = true;
    s.frame = null;
  }

  /** Forget which scanner message the list corresponds to; its rows stay until replaced. */
  markUnknown(list: Category): void {
    this.state(list).known = false;
  }

  /** The `snapshot` message of the list, serialised once per state and shared by every client. */
  snapshotFrame(list: Category): Buffer {
    const s = this.state(list);
    if (!s.frame) s.frame = Buffer.from(encodeSnapshot(list, s.sequence, s.rowsJson), 'utf8');
    return s.frame;
  }

  /** symbolToLists: the lists holding `symbol` now. */
  listsOf(symbol: string): ReadonlySet<Category> | undefined {
    return this.index.get(symbol);
  }

  symbolCount(): number {
    return this.index.size;
  }

  private reindex(list: Category, before: readonly Row[], after: readonly Row[]): void {
    const next = new Set(after.map((r) => r.symbol));
    for (const r of before) {
      if (next.has(r.symbol)) continue;
      const lists = this.index.get(r.symbol);
      if (!lists) continue;
      lists.delete(list);
      if (lists.size === 0) this.index.delete(r.symbol);
    }
    for (const sym of next) {
      let lists = this.index.get(sym);
      if (!lists) {
        lists = new Set();
        this.index.set(sym, lists);
      }
      lists.add(list);
    }
  }
}
