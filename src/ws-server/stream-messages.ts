import { isCategory, STREAM_DATA_FIELD, type Category } from '../shared/redis-keys.js';
import { isValidSymbol } from '../upstream/codec.js';
import type { ClientAggregate } from './client-protocol.js';
import type { DeltaAction, DeltaItem, Row } from './list-store.js';

// What the ws-server reads from Redis, validated at the edge: the scanner's ranking messages and
// category keys, and polygon-ws's aggregates. Anything malformed comes back as a reason (the
// caller logs and counts it) and is skipped, never thrown.

/** A list longer than this is not a ranking: the excess is cut off rather than fanned out. */
export const MAX_ROWS_PER_LIST = 5_000;
const MAX_SYMBOL_LENGTH = 32;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export type RankingMessage =
  | { type: 'snapshot'; list: Category; sequence: number; rows: Row[]; skipped: number }
  | {
      type: 'delta';
      list: Category;
      sequence: number;
      deltas: DeltaItem[];
      change_count: number;
      /** Items that failed validation and were left out. */
      skipped: number;
    };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isRowSymbol(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_SYMBOL_LENGTH && s.trim() === s;
}

function isSequence(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** The value of the `data` field in a stream entry's flat [field, value, ...] list. */
export function dataField(fields: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === STREAM_DATA_FIELD) return fields[i + 1];
  return undefined;
}

/** Rows of a category key or a snapshot: objects with a symbol, first occurrence of each symbol. */
export function parseRows(value: unknown): Parsed<{ rows: Row[]; skipped: number }> {
  if (!Array.isArray(value)) return { ok: false, reason: 'rows_not_an_array' };
  const rows: Row[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  for (const r of value) {
    if (!isPlainObject(r) || !isRowSymbol(r.symbol) || seen.has(r.symbol) || rows.length >= MAX_ROWS_PER_LIST) {
      skipped++;
      continue;
    }
    seen.add(r.symbol);
    rows.push(r as Row);
  }
  return { ok: true, value: { rows, skipped } };
}

/** A `scanner:category:{name}` value; null when the key does not exist. */
export function parseCategoryValue(raw: string | null): Parsed<{ rows: Row[]; skipped: number }> | null {
  if (raw === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
  return parseRows(v);
}

const ACTIONS: readonly DeltaAction[] = ['add', 'remove', 'update', 'rerank'];

function parseDeltaItem(v: unknown): DeltaItem | null {
  if (!isPlainObject(v)) return null;
  const { action, symbol, data, new_rank, rank } = v;
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) return null;
  if (!isRowSymbol(symbol)) return null;
  if (data !== undefined && !isPlainObject(data)) return null;
  if (rank !== undefined && (typeof rank !== 'number' || !Number.isFinite(rank))) return null;
  if (action === 'rerank' && (typeof new_rank !== 'number' || !Number.isFinite(new_rank))) return null;
  return v as DeltaItem;
}

/** A stream entry's `data` field: present, JSON, and an object. */
function parseDataObject(json: string | undefined): Parsed<Record<string, unknown>> {
  if (json === undefined) return { ok: false, reason: 'no_data_field' };
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
  if (!isPlainObject(v)) return { ok: false, reason: 'not_an_object' };
  return { ok: true, value: v };
}

/** The JSON of a `stream:ranking:deltas` entry. */
export function parseRankingData(json: string | undefined): Parsed<RankingMessage> {
  const parsed = parseDataObject(json);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  const { type, list, sequence } = v;
  if (!isCategory(list)) return { ok: false, reason: 'unknown_list' };
  if (!isSequence(sequence)) return { ok: false, reason: 'bad_sequence' };
  if (type === 'snapshot') {
    const rows = parseRows(v.rows);
    if (!rows.ok) return rows;
    return { ok: true, value: { type, list, sequence, rows: rows.value.rows, skipped: rows.value.skipped } };
  }
  if (type === 'delta') {
    if (!Array.isArray(v.deltas)) return { ok: false, reason: 'deltas_not_an_array' };
    const deltas: DeltaItem[] = [];
    let skipped = 0;
    for (const d of v.deltas) {
      const item = parseDeltaItem(d);
      if (item) deltas.push(item);
      else skipped++;
    }
    const cc = v.change_count;
    const change_count = typeof cc === 'number' && Number.isFinite(cc) ? cc : deltas.length;
    return { ok: true, value: { type, list, sequence, deltas, change_count, skipped } };
  }
  return { ok: false, reason: 'unknown_type' };
}

/** The JSON of a `stream:realtime:aggregates` entry (the upstream's event), made compact. */
export function parseAggregateData(json: string | undefined): Parsed<ClientAggregate> {
  const parsed = parseDataObject(json);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (v.ev !== undefined && v.ev !== 'A' && v.ev !== 'AM') return { ok: false, reason: 'not_an_aggregate' };
  if (!isValidSymbol(v.sym)) return { ok: false, reason: 'bad_symbol' };
  const { c, e, v: volume } = v;
  if (typeof c !== 'number' || !Number.isFinite(c)) return { ok: false, reason: 'bad_close' };
  if (typeof e !== 'number' || !Number.isFinite(e)) return { ok: false, reason: 'bad_end' };
  const out: ClientAggregate = { symbol: v.sym, price: c, time: e };
  if (typeof volume === 'number' && Number.isFinite(volume)) out.volume = volume;
  return { ok: true, value: out };
}
