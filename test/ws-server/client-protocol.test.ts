import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeAggregate,
  encodeAggregateItem,
  encodeAggregatesFrames,
  encodeDelta,
  encodeError,
  encodeSnapshot,
  parseClientMessage,
} from '../../src/ws-server/client-protocol.js';

describe('parseClientMessage', () => {
  it('accepts the contract messages', () => {
    expect(parseClientMessage('{"action":"subscribe","lists":["gappers_up","winners"]}')).toEqual({
      ok: true,
      request: { action: 'subscribe', lists: ['gappers_up', 'winners'], unknown: [] },
    });
    expect(parseClientMessage('{"action":"unsubscribe","lists":["winners"]}')).toMatchObject({
      ok: true,
      request: { action: 'unsubscribe', lists: ['winners'] },
    });
    expect(parseClientMessage('{"action":"resync","list":"gappers_up"}')).toMatchObject({
      ok: true,
      request: { action: 'resync', lists: ['gappers_up'] },
    });
    expect(parseClientMessage('{"action":"ping"}')).toEqual({ ok: true, request: { action: 'ping' } });
  });

  it('separates unknown lists and removes duplicates', () => {
    expect(parseClientMessage('{"action":"subscribe","lists":["winners","nope","winners","nope"]}')).toEqual({
      ok: true,
      request: { action: 'subscribe', lists: ['winners'], unknown: ['nope'] },
    });
  });

  it.each([
    ['not json', 'invalid_json'],
    ['[]', 'invalid_message'],
    ['"subscribe"', 'invalid_message'],
    ['null', 'invalid_message'],
    ['{}', 'unknown_action'],
    ['{"action":"delete"}', 'unknown_action'],
    ['{"action":"subscribe"}', 'invalid_message'],
    ['{"action":"subscribe","lists":[]}', 'invalid_message'],
    ['{"action":"subscribe","lists":"winners"}', 'invalid_message'],
    ['{"action":"subscribe","lists":[1,2]}', 'invalid_message'],
    ['{"action":"resync"}', 'invalid_message'],
    ['{"__proto__":{"action":"ping"}}', 'unknown_action'],
    [`{"action":"subscribe","lists":${JSON.stringify(Array(33).fill('winners'))}}`, 'invalid_message'],
  ])('refuses %s with %s', (text, code) => {
    expect(parseClientMessage(text)).toMatchObject({ ok: false, code });
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        const r = parseClientMessage(text);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('server messages', () => {
  it('are the contract shapes', () => {
    expect(JSON.parse(encodeSnapshot('winners', 3, '[{"symbol":"AA"}]'))).toEqual({
      type: 'snapshot',
      list: 'winners',
      sequence: 3,
      rows: [{ symbol: 'AA' }],
    });
    expect(JSON.parse(encodeDelta({ list: 'winners', sequence: 4, deltas: [{ action: 'remove', symbol: 'AA' }], change_count: 1 }))).toEqual({
      type: 'delta',
      list: 'winners',
      sequence: 4,
      deltas: [{ action: 'remove', symbol: 'AA' }],
      change_count: 1,
    });
    expect(JSON.parse(encodeAggregate({ symbol: 'AA', price: 1.5, time: 1000, volume: 10 }))).toEqual({
      type: 'aggregate',
      symbol: 'AA',
      price: 1.5,
      time: 1000,
      volume: 10,
    });
    expect(encodeAggregate({ symbol: 'AA', price: 1.5, time: 1000 })).toBe('{"type":"aggregate","symbol":"AA","price":1.5,"time":1000}');
    expect(JSON.parse(encodeError('unknown_list', 'x'))).toEqual({ type: 'error', message: 'x', code: 'unknown_list' });
  });
});

describe('batch option and aggregates frames', () => {
  it('takes batch true or false on subscribe, and leaves it out when absent', () => {
    expect(parseClientMessage('{"action":"subscribe","lists":["winners"],"batch":true}')).toEqual({
      ok: true,
      request: { action: 'subscribe', lists: ['winners'], unknown: [], batch: true },
    });
    expect(parseClientMessage('{"action":"subscribe","lists":["winners"],"batch":false}')).toMatchObject({ ok: true, request: { batch: false } });
    const plain = parseClientMessage('{"action":"subscribe","lists":["winners"]}');
    expect(plain.ok && 'batch' in plain.request).toBe(false);
  });

  it.each(['"true"', '1', '0', 'null', '{}', '[]', '"yes"', '{"__proto__":true}'])('refuses batch %s with invalid_batch', (v) => {
    expect(parseClientMessage(`{"action":"subscribe","lists":["winners"],"batch":${v}}`)).toEqual({
      ok: false,
      code: 'invalid_batch',
      message: '"batch" must be true or false',
    });
  });

  it('encodes the aggregate message and the batch item from the same bytes', () => {
    const a = { symbol: 'AAPL', price: 191.5, time: 1_700_000_000_000, volume: 1200 };
    expect(JSON.parse(encodeAggregateItem(a))).toEqual(a);
    expect(encodeAggregate(a)).toBe('{"type":"aggregate","symbol":"AAPL","price":191.5,"time":1700000000000,"volume":1200}');
    expect(encodeAggregate({ symbol: 'X', price: 1, time: 2 })).toBe('{"type":"aggregate","symbol":"X","price":1,"time":2}');
  });

  it('splits a batch into frames no larger than the bound, items in order and each once', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ symbol: fc.stringMatching(/^[A-Z]{1,5}$/), price: fc.double({ noNaN: true, noDefaultInfinity: true }), time: fc.nat() }), { maxLength: 300 }), fc.integer({ min: 100, max: 4096 }), (prices, max) => {
        const items = prices.map(encodeAggregateItem);
        // A bound below one item's own frame cannot be kept (that item goes alone, below): the
        // property is about bounds every item fits in (in production 16 KiB against ~70 bytes).
        const bound = Math.max(max, ...items.map((i) => encodeAggregatesFrames([i], Infinity)[0]?.length ?? 0));
        const frames = encodeAggregatesFrames(items, bound);
        const back: unknown[] = [];
        for (const f of frames) {
          expect(f.length).toBeLessThanOrEqual(bound);
          const m = JSON.parse(f.toString('utf8')) as { type: string; items: unknown[] };
          expect(m.type).toBe('aggregates');
          expect(m.items.length).toBeGreaterThan(0);
          back.push(...m.items);
        }
        expect(back).toEqual(items.map((i) => JSON.parse(i) as unknown));
      }),
    );
    expect(encodeAggregatesFrames([], 1000)).toEqual([]);
    // An item larger than the bound is not lost: it goes in a frame of its own.
    const big = encodeAggregateItem({ symbol: 'AAAAA', price: -2.4258132175057884e152, time: 1_000_000_000 });
    const small = encodeAggregateItem({ symbol: 'B', price: 1, time: 2 });
    expect(encodeAggregatesFrames([small, big, small], 60).map((f) => (JSON.parse(f.toString('utf8')) as { items: unknown[] }).items.length)).toEqual([1, 1, 1]);
    // An item longer than the bound still goes, alone.
    const long = encodeAggregateItem({ symbol: 'LONG', price: 1, time: 2 });
    expect(encodeAggregatesFrames([long, long], 10).map((f) => f.toString())).toEqual([
      `{"type":"aggregates","items":[${long}]}`,
      `{"type":"aggregates","items":[${long}]}`,
    ]);
  });
});
