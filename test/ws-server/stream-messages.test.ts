import { describe, expect, it } from 'vitest';
import { dataField, parseAggregateData, parseCategoryValue, parseRankingData } from '../../src/ws-server/stream-messages.js';

describe('ranking messages', () => {
  it('parses the contract delta and keeps unknown fields of items', () => {
    const m = parseRankingData(
      JSON.stringify({
        type: 'delta',
        list: 'gappers_up',
        sequence: 67,
        deltas: [
          { action: 'add', symbol: 'AAPL', data: {}, extra: 1 },
          { action: 'remove', symbol: 'TSLA' },
          { action: 'update', symbol: 'NVDA', data: {} },
          { action: 'rerank', symbol: 'GOOGL', new_rank: 5, old_rank: 8 },
        ],
        change_count: 16,
      }),
    );
    expect(m).toMatchObject({ ok: true, value: { type: 'delta', list: 'gappers_up', sequence: 67, change_count: 16, skipped: 0 } });
    if (m.ok && m.value.type === 'delta') expect(m.value.deltas[0]).toEqual({ action: 'add', symbol: 'AAPL', data: {}, extra: 1 });
  });

  it('skips bad items but keeps the message', () => {
    const m = parseRankingData(
      JSON.stringify({
        type: 'delta',
        list: 'winners',
        sequence: 1,
        deltas: [{ action: 'explode', symbol: 'A' }, { action: 'rerank', symbol: 'B' }, { action: 'add', symbol: '' }, 7, { action: 'remove', symbol: 'C' }],
      }),
    );
    expect(m).toMatchObject({ ok: true, value: { skipped: 4, change_count: 1 } });
  });

  it.each([
    [undefined, 'no_data_field'],
    ['{', 'invalid_json'],
    ['[]', 'not_an_object'],
    ['{"type":"delta","list":"nope","sequence":1,"deltas":[]}', 'unknown_list'],
    ['{"type":"delta","list":"winners","sequence":-1,"deltas":[]}', 'bad_sequence'],
    ['{"type":"delta","list":"winners","sequence":1.5,"deltas":[]}', 'bad_sequence'],
    ['{"type":"delta","list":"winners","sequence":1}', 'deltas_not_an_array'],
    ['{"type":"snapshot","list":"winners","sequence":1,"rows":{}}', 'rows_not_an_array'],
    ['{"type":"other","list":"winners","sequence":1}', 'unknown_type'],
  ])('refuses %s (%s)', (json, reason) => {
    expect(parseRankingData(json)).toEqual({ ok: false, reason });
  });

  it('reads category keys, dropping rows without a symbol and repeated symbols', () => {
    expect(parseCategoryValue(null)).toBeNull();
    expect(parseCategoryValue('nope')).toEqual({ ok: false, reason: 'invalid_json' });
    expect(parseCategoryValue('[{"symbol":"AA","rank":1},{"rank":2},{"symbol":"AA"},null]')).toEqual({
      ok: true,
      value: { rows: [{ symbol: 'AA', rank: 1 }], skipped: 3 },
    });
  });

  it('finds the data field among others', () => {
    expect(dataField(['x', '1', 'data', '{}'])).toBe('{}');
    expect(dataField(['x'])).toBeUndefined();
  });
});

describe('aggregates', () => {
  const ev = { ev: 'A', sym: 'AAPL', v: 100, av: 1000, op: 1, vw: 1, o: 1, c: 2.5, h: 3, l: 1, a: 1, z: 1, s: 1000, e: 2000 };
  it('keeps the compact fields', () => {
    expect(parseAggregateData(JSON.stringify(ev))).toEqual({ ok: true, value: { symbol: 'AAPL', price: 2.5, time: 2000, volume: 100 } });
  });
  it.each(['AMpB', 'BCpC', 'BRK.B', 'AMPB'])('keeps the symbol %s as spelled (symbols are case-sensitive)', (sym) => {
    expect(parseAggregateData(JSON.stringify({ ...ev, sym }))).toEqual({ ok: true, value: { symbol: sym, price: 2.5, time: 2000, volume: 100 } });
  });
  it.each([
    [{ ...ev, ev: 'T' }, 'not_an_aggregate'],
    [{ ...ev, sym: 'aapl' }, 'bad_symbol'],
    [{ ...ev, c: 'x' }, 'bad_close'],
    [{ ...ev, e: null }, 'bad_end'],
  ])('refuses %j', (e, reason) => {
    expect(parseAggregateData(JSON.stringify(e))).toEqual({ ok: false, reason });
  });
});
