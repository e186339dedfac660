import type { Category } from '../shared/redis-keys.js';
import type { CategoryRow } from './categories.js';

// The ranking messages of `stream:ranking:deltas` (contract.md): how one list changed between two
// scans, how a reader applies that change, and when the whole list is sent instead.
//
// Semantics, which `applyDeltas` implements and a consumer may rely on:
// - `remove`: the symbol left the list.
// - `add`: the symbol entered; `data` is its whole row (rank included).
// - `update`: the symbol's row changed; `data` is its whole new row (rank included, so an update
//   also carries a rank move and no `rerank` is sent for that symbol).
// - `rerank`: only the rank changed: `old_rank` → `new_rank`.
// After applying, the list ordered by rank is exactly the scanner's new list. Removes come first,
// then the rest in new-rank order, so a consumer applying them one by one never sees a duplicate.

export interface RankedRow {
  readonly symbol: string;
  readonly rank: number;
}

export type Delta<R extends RankedRow = CategoryRow> =
  | { action: 'add'; symbol: string; data: R }
  | { action: 'remove'; symbol: string }
  | { action: 'update'; symbol: string; data: R }
  | { action: 'rerank'; symbol: string; new_rank: number; old_rank: number };

export interface DeltaMessage<R extends RankedRow = CategoryRow> {
  type: 'delta';
  list: Category;
  sequence: number;
  deltas: Delta<R>[];
  change_count: number;
}

export interface SnapshotMessage<R extends RankedRow = CategoryRow> {
  type: 'snapshot';
  list: Category;
  sequence: number;
  rows: R[];
}

export type RankingMessage<R extends RankedRow = CategoryRow> = DeltaMessage<R> | SnapshotMessage<R>;

export class DeltaApplyError extends Error {
  constructor(detail: string) {
    super(`delta does not apply: ${detail}`);
    this.name = 'DeltaApplyError';
  }
}

/** Same row apart from its rank (rows are flat objects of primitives). */
function sameButRank(a: RankedRow, b: RankedRow): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (const k of kx) {
    if (k === 'rank') continue;
    if (!Object.prototype.hasOwnProperty.call(y, k) || !Object.is(x[k], y[k])) return false;
  }
  return true;
}

/** The changes that turn `oldRows` into `newRows` (both ranked lists with distinct symbols). */
export function diffRows<R extends RankedRow>(oldRows: readonly R[], newRows: readonly R[]): Delta<R>[] {
  const before = new Map<string, R>();
  for (const r of oldRows) before.set(r.symbol, r);
  const after = new Set<string>();
  for (const r of newRows) after.add(r.symbol);

  const out: Delta<R>[] = [];
  for (const r of oldRows) if (!after.has(r.symbol)) out.push({ action: 'remove', symbol: r.symbol });
  for (const r of newRows) {
    const prev = before.get(r.symbol);
    if (!prev) out.push({ action: 'add', symbol: r.symbol, data: r });
    else if (!sameButRank(prev, r)) out.push({ action: 'update', symbol: r.symbol, data: r });
    else if (prev.rank !== r.rank) out.push({ action: 'rerank', symbol: r.symbol, new_rank: r.rank, old_rank: prev.rank });
  }
  return out;
}

/**
 * A reader's side: the list after `msg`. Throws DeltaApplyError when the delta does not fit
 * `oldRows` (the reader has drifted and must resync).
 */
export function applyDeltas<R extends RankedRow>(oldRows: readonly R[], msg: RankingMessage<R>): R[] {
  if (msg.type === 'snapshot') return msg.rows.slice();
  const rows = new Map<string, R>();
  for (const r of oldRows) rows.set(r.symbol, r);
  for (const d of msg.deltas) {
    const cur = rows.get(d.symbol);
    switch (d.action) {
      case 'remove':
        if (!cur) throw new DeltaApplyError(`remove of ${d.symbol}, which is not in the list`);
        rows.delete(d.symbol);
        break;
      case 'add':
        if (cur) throw new DeltaApplyError(`add of ${d.symbol}, which is already in the list`);
        rows.set(d.symbol, d.data);
        break;
      case 'update':
        if (!cur) throw new DeltaApplyError(`update of ${d.symbol}, which is not in the list`);
        rows.set(d.symbol, d.data);
        break;
      case 'rerank':
        if (!cur) throw new DeltaApplyError(`rerank of ${d.symbol}, which is not in the list`);
        if (cur.rank !== d.old_rank) throw new DeltaApplyError(`rerank of ${d.symbol} from ${d.old_rank}, but it is ranked ${cur.rank}`);
        rows.set(d.symbol, { ...cur, rank: d.new_rank });
        break;
    }
  }
  const out = [...rows.values()].sort((a, b) => a.rank - b.rank);
  out.forEach((r, i) => {
    if (r.rank !== i + 1) throw new DeltaApplyError(`ranks are not 1..${out.length} after applying`);
  });
  return out;
}

/**
 * A delta is worth sending only when it is not larger than the list itself (counted in entries:
 * each delta against each row of the new list); otherwise the snapshot is as cheap and simpler.
 */
export function deltaTooLarge(deltas: readonly unknown[], newRows: readonly unknown[]): boolean {
  return deltas.length > newRows.length;
}

export interface MessageChoice {
  /** The list as the reader last saw it; null when it starts (first scan, or after a restart). */
  previous: readonly CategoryRow[] | null;
  rows: CategoryRow[];
  list: Category;
  sequence: number;
  /** Send a snapshot whatever the change (periodic refresh). */
  forceSnapshot: boolean;
}

/** The message for one list and one scan: a snapshot when the list starts, when forced, or when the delta is too large. */
export function rankingMessage(c: MessageChoice): RankingMessage {
  if (c.previous && !c.forceSnapshot) {
    const deltas = diffRows(c.previous, c.rows);
    if (!deltaTooLarge(deltas, c.rows)) {
      return { type: 'delta', list: c.list, sequence: c.sequence, deltas, change_count: deltas.length };
    }
  }
  return { type: 'snapshot', list: c.list, sequence: c.sequence, rows: c.rows };
}
