import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeAggregate,
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
