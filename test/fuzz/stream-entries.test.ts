import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolygonSnapshot, SnapshotFormatError } from '../../src/scanner/market-snapshot.js';
import { parseEntry } from '../../src/services/subscription-events.js';
import { CATEGORIES, isCategory } from '../../src/shared/redis-keys.js';
import { isValidSymbol } from '../../src/upstream/codec.js';
import {
  dataField,
  MAX_ROWS_PER_LIST,
  parseAggregateData,
  parseCategoryValue,
  parseRankingData,
  parseRows,
} from '../../src/ws-server/stream-messages.js';
import { jsonishText, jsonValue, nastyString, numberish, recordOf, tickerish } from './arbitraries.js';

// What the roles read from Redis and from Polygon's REST API is written by someone else: every
// parser of it answers (a value or a reason, never a throw), and what it lets through is valid.

const ENTRY_REASONS = new Set(['missing_symbol', 'invalid_symbol', 'missing_action', 'unknown_action']);

const hugeString = fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'A'.repeat(n));
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('subscribe', 'unsubscribe', ' Subscribe ', 'UNSUBSCRIBE', 'explode', 'AAPL', 'msft', 'brk.b', ' NVDA ', 'AMpB', ' BCpC ') },
  // Not String(v): a generated object may carry its own `toString` field, which String() calls.
  { weight: 3, arbitrary: tickerish.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: hugeString },
);
const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('symbol', 'action', 'source', 'session', 'timestamp', 'SYMBOL', ' symbol') },
  { weight: 2, arbitrary: nastyString },
);
/** Flat [field, value, …] lists as XREADGROUP returns them, odd lengths and repeated fields included. */
const fields = fc.oneof(
  fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 }).map((pairs) => pairs.flat()),
  fc.array(fc.oneof(fieldName, fieldValue), { maxLength: 9 }),
);

/** The meaning of an entry, said independently: the last value of each field wins. */
function expected(fs: readonly string[]): { symbol?: string; action?: string } {
  const out: { symbol?: string; action?: string } = {};
  for (let i = 0; i + 1 < fs.length; i += 2) {
    if (fs[i] === 'symbol') out.symbol = fs[i + 1];
    if (fs[i] === 'action') out.action = fs[i + 1];
  }
  return out;
}

describe('parseEntry (polygon_ws:subscriptions)', () => {
  it('property: never throws; a valid entry or a known reason, as the last field of each name says', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fields, (id, fs) => {
        const p = parseEntry(id, fs);
        expect(p.id).toBe(id);
        const want = expected(fs);
        if ('reason' in p) {
          expect(ENTRY_REASONS.has(p.reason)).toBe(true);
          if (p.reason === 'missing_symbol') expect(want.symbol?.trim() ?? '').toBe('');
          if (p.reason === 'missing_action') expect(want.action).toBeUndefined();
          return;
        }
        expect(isValidSymbol(p.symbol)).toBe(true);
        expect(['subscribe', 'unsubscribe']).toContain(p.action);
        // Kept as written (trimmed): symbols are case-sensitive upstream, never upper-cased.
        expect(p.symbol).toBe(want.symbol?.trim());
        expect(p.action).toBe(want.action?.trim().toLowerCase());
        expect(Object.keys(p).sort()).toEqual(['action', 'id', 'symbol']);
      }),
      { numRuns: 1000 },
    );
  });

  it('a repeated field: the last one counts; a dangling field name is ignored', () => {
    expect(parseEntry('1-0', ['symbol', 'AAPL', 'action', 'subscribe', 'symbol', 'MSFT'])).toEqual({ id: '1-0', symbol: 'MSFT', action: 'subscribe' });
    expect(parseEntry('1-0', ['symbol', 'AAPL', 'action'])).toEqual({ id: '1-0', reason: 'missing_action' });
    expect(parseEntry('1-0', ['__proto__', 'x', 'symbol', 'AAPL', 'action', 'unsubscribe'])).toMatchObject({ symbol: 'AAPL' });
    expect(parseEntry('1-0', [])).toEqual({ id: '1-0', reason: 'missing_symbol' });
  });
});

describe('ws-server stream messages', () => {
  const rowish = fc.oneof(
    { weight: 4, arbitrary: recordOf({ symbol: tickerish, rank: numberish, price: numberish }) },
    { weight: 1, arbitrary: jsonValue },
  );
  const deltaItem = fc.oneof(
    {
      weight: 4,
      arbitrary: recordOf({
        action: fc.oneof(fc.constantFrom('add', 'remove', 'update', 'rerank', 'ADD', '__proto__'), nastyString),
        symbol: tickerish,
        data: fc.oneof(fc.dictionary(nastyString, jsonValue, { maxKeys: 3 }), jsonValue),
        rank: numberish,
        new_rank: numberish,
      }),
    },
    { weight: 1, arbitrary: jsonValue },
  );
  const rankingMessage = recordOf({
    type: fc.oneof(fc.constantFrom('snapshot', 'delta', 'SNAPSHOT'), nastyString),
    list: fc.oneof(fc.constantFrom(...CATEGORIES, 'toString', '__proto__'), nastyString),
    sequence: fc.oneof(fc.nat(), numberish, fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 1.5)),
    rows: fc.oneof(fc.array(rowish, { maxLength: 12 }), jsonValue),
    deltas: fc.oneof(fc.array(deltaItem, { maxLength: 12 }), jsonValue),
    change_count: numberish,
  });

  it('property: parseRankingData never throws; what it accepts is a known list, a sequence, valid rows or deltas', () => {
    fc.assert(
      fc.property(fc.oneof(jsonishText(rankingMessage), fc.constant(undefined)), (json) => {
        const p = parseRankingData(json);
        if (!p.ok) {
          expect(p.reason).toMatch(/^[a-z_]+$/);
          return;
        }
        const m = p.value;
        expect(isCategory(m.list)).toBe(true);
        expect(Number.isSafeInteger(m.sequence) && m.sequence >= 0).toBe(true);
        expect(m.skipped).toBeGreaterThanOrEqual(0);
        if (m.type === 'snapshot') {
          expect(m.rows.length).toBeLessThanOrEqual(MAX_ROWS_PER_LIST);
          const symbols = m.rows.map((r) => r.symbol);
          expect(new Set(symbols).size).toBe(symbols.length);
          for (const s of symbols) expect(typeof s === 'string' && s.length > 0 && s.length <= 32 && s.trim() === s).toBe(true);
        } else {
          expect(m.type).toBe('delta');
          expect(Number.isFinite(m.change_count)).toBe(true);
          for (const d of m.deltas) {
            expect(['add', 'remove', 'update', 'rerank']).toContain(d.action);
            expect(typeof d.symbol).toBe('string');
            if (d.action === 'rerank') expect(Number.isFinite(d.new_rank)).toBe(true);
            if (d.data !== undefined) expect(typeof d.data === 'object' && d.data !== null && !Array.isArray(d.data)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('property: parseCategoryValue and parseRows never throw and cap, dedupe and check the rows', () => {
    fc.assert(
      fc.property(fc.oneof(jsonishText(fc.array(rowish, { maxLength: 20 })), fc.constant(null)), (raw) => {
        const p = parseCategoryValue(raw);
        if (raw === null) {
          expect(p).toBeNull();
          return;
        }
        if (p === null) throw new Error('null for an existing key');
        if (!p.ok) {
          expect(['invalid_json', 'rows_not_an_array']).toContain(p.reason);
          return;
        }
        const symbols = p.value.rows.map((r) => r.symbol);
        expect(new Set(symbols).size).toBe(symbols.length);
      }),
      { numRuns: 500 },
    );
    const many = Array.from({ length: MAX_ROWS_PER_LIST + 10 }, (_, i) => ({ symbol: `S${i}` }));
    const capped = parseRows(many);
    expect(capped.ok && capped.value.rows.length === MAX_ROWS_PER_LIST && capped.value.skipped === 10).toBe(true);
  });

  it('property: parseAggregateData never throws; what it accepts has a valid symbol and finite numbers', () => {
    const aggregate = recordOf({
      ev: fc.oneof(fc.constantFrom('A', 'AM', 'T'), jsonValue),
      sym: tickerish,
      c: numberish,
      e: numberish,
      v: numberish,
    });
    fc.assert(
      fc.property(fc.oneof(jsonishText(aggregate), fc.constant(undefined)), (json) => {
        const p = parseAggregateData(json);
        if (!p.ok) {
          expect(p.reason).toMatch(/^[a-z_]+$/);
          return;
        }
        expect(isValidSymbol(p.value.symbol)).toBe(true);
        expect(Number.isFinite(p.value.price)).toBe(true);
        expect(Number.isFinite(p.value.time)).toBe(true);
        if (p.value.volume !== undefined) expect(Number.isFinite(p.value.volume)).toBe(true);
        expect(Object.keys(p.value).every((k) => ['symbol', 'price', 'time', 'volume'].includes(k))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: dataField never throws and returns the value after the first `data` field name', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('data'), nastyString), { maxLength: 9 }), (fs) => {
        const v = dataField(fs);
        const i = fs.findIndex((f, k) => k % 2 === 0 && k + 1 < fs.length && f === 'data');
        expect(v).toBe(i < 0 ? undefined : fs[i + 1]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parsePolygonSnapshot (the scanner side)', () => {
  const bar = (keys: string[]) => fc.oneof({ weight: 4, arbitrary: recordOf(Object.fromEntries(keys.map((k) => [k, numberish]))) }, { weight: 1, arbitrary: jsonValue });
  const ticker = fc.oneof(
    {
      weight: 5,
      arbitrary: recordOf({
        ticker: tickerish,
        todaysChange: numberish,
        todaysChangePerc: numberish,
        updated: numberish,
        day: bar(['o', 'h', 'l', 'c', 'v', 'vw']),
        prevDay: bar(['o', 'h', 'l', 'c', 'v', 'vw']),
        min: bar(['av', 't', 'n', 'o', 'h', 'l', 'c', 'v', 'vw']),
        lastTrade: bar(['p', 's', 't', 'x']),
      }),
    },
    { weight: 1, arbitrary: jsonValue },
  );
  const body = fc.oneof(
    { weight: 5, arbitrary: recordOf({ status: fc.oneof(fc.constantFrom('OK', 'DELAYED', 'ERROR', 'NOT_AUTHORIZED'), nastyString), tickers: fc.oneof(fc.array(ticker, { maxLength: 15 }), jsonValue), error: nastyString, message: nastyString, count: numberish }) },
    { weight: 1, arbitrary: jsonValue },
  );
  const TAKEN_AT = Date.UTC(2025, 0, 2, 15, 0);

  it('property: returns a snapshot of valid tickers, or throws SnapshotFormatError only', () => {
    fc.assert(
      fc.property(body, (b) => {
        let snap;
        try {
          snap = parsePolygonSnapshot(b, TAKEN_AT);
        } catch (err) {
          expect(err).toBeInstanceOf(SnapshotFormatError);
          // The refusal quotes the upstream's error, but bounded.
          expect((err as Error).message.length).toBeLessThan(400);
          return;
        }
        expect(snap.source).toBe('polygon');
        const total = Array.isArray((b as { tickers?: unknown }).tickers) ? (b as { tickers: unknown[] }).tickers.length : 0;
        expect(snap.tickers.length + snap.rejected).toBeLessThanOrEqual(total);
        expect(snap.rejected * 2).toBeLessThanOrEqual(total);
        const symbols = snap.tickers.map((t) => t.symbol);
        expect(new Set(symbols).size).toBe(symbols.length);
        for (const t of snap.tickers) {
          expect(isValidSymbol(t.symbol)).toBe(true);
          expect(t.price).toBeGreaterThan(0);
          expect(t.prevClose).toBeGreaterThan(0);
          for (const n of [t.price, t.prevClose, t.prevVolume, t.volume]) expect(Number.isFinite(n) && n >= 0).toBe(true);
          if (t.day) for (const n of Object.values(t.day)) expect(Number.isFinite(n)).toBe(true);
          if (t.minute) expect(t.minute.close).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a huge body of mostly good tickers is parsed, not refused', () => {
    const tickers = Array.from({ length: 5_000 }, (_, i) => ({ ticker: `T${i}`, prevDay: { c: 10 }, lastTrade: { p: 11 } }));
    tickers.push({ ticker: 'bad lower', prevDay: { c: 10 }, lastTrade: { p: 11 } });
    const snap = parsePolygonSnapshot({ status: 'OK', tickers }, TAKEN_AT);
    expect(snap.tickers).toHaveLength(5_000);
    expect(snap.rejected).toBe(1);
  });
});
