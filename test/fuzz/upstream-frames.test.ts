import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeClientMessage, decodeServerFrame, isValidSymbol, serverEvents, splitChannels } from '../../src/upstream/codec.js';
import { jsonishText, jsonValue, nastyString, numberish, recordOf, tickerish } from './arbitraries.js';

// The upstream's frames as polygon-ws parses them, and client frames as the simulator parses
// them: whatever arrives, the parser answers (never throws), and what it lets through is valid.

const STATUS_KINDS = new Set([
  'connected',
  'auth_success',
  'auth_failed',
  'auth_timeout',
  'subscribed',
  'unsubscribed',
  'max_connections',
  'force_disconnect',
  'slow_consumer',
  'error',
  'other',
]);
const NUM_FIELDS = ['o', 'c', 'h', 'l', 'v', 's', 'e'] as const;

const aggregateEvent = recordOf({
  ev: fc.oneof({ weight: 4, arbitrary: fc.constant('A') }, { weight: 1, arbitrary: fc.constantFrom('AM', 'a', 'T', 'Q', null, 1) }),
  sym: tickerish,
  o: numberish,
  c: numberish,
  h: numberish,
  l: numberish,
  v: numberish,
  s: numberish,
  e: numberish,
  av: numberish,
  vw: numberish,
});
const channels = fc
  .tuple(
    fc.array(fc.oneof(tickerish.map((t) => `A.${String(t)}`), nastyString, fc.constantFrom('A.*', 'T.AAPL', 'A.', '.', 'A.AAPL,')), { maxLength: 8 }),
    fc.constantFrom(',', ', ', ',,'),
  )
  .map(([a, sep]) => a.join(sep));
const statusEvent = recordOf({
  ev: fc.oneof({ weight: 5, arbitrary: fc.constant('status') }, { weight: 1, arbitrary: jsonValue }),
  status: fc.oneof(
    fc.constantFrom('connected', 'auth_success', 'auth_failed', 'max_connections', 'force_disconnect', 'slow_consumer', 'success', 'error', 'SUCCESS'),
    nastyString,
    jsonValue,
  ),
  message: fc.oneof(
    channels.map((c) => `subscribed to: ${c}`),
    channels.map((c) => `unsubscribed to: ${c}`),
    fc.constantFrom('No authentication request received.', 'NO AUTHENTICATION REQUEST RECEIVED', 'authenticated'),
    nastyString,
    jsonValue,
  ),
});
const anyEvent = fc.oneof(aggregateEvent, statusEvent, jsonValue);
const frameText = fc.oneof(
  { weight: 3, arbitrary: fc.array(anyEvent, { maxLength: 12 }).map((a) => JSON.stringify(a)) },
  { weight: 1, arbitrary: jsonishText(fc.oneof(anyEvent, fc.array(anyEvent, { maxLength: 4 }))) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }).map((v) => { try { return JSON.stringify(v) ?? 'undefined'; } catch { return String(typeof v); } }) },
);

describe('decodeServerFrame', () => {
  it('property: never throws; every aggregate it returns is valid, every status has a known kind', () => {
    fc.assert(
      fc.property(frameText, (text) => {
        const out = decodeServerFrame(text);
        for (const a of out.aggregates) {
          expect(isValidSymbol(a.sym)).toBe(true);
          for (const f of NUM_FIELDS) expect(Number.isFinite(a[f])).toBe(true);
          expect(a.raw.ev).toBe('A');
        }
        for (const s of out.statuses) {
          expect(STATUS_KINDS.has(s.kind)).toBe(true);
          expect(typeof s.status).toBe('string');
          expect(typeof s.message).toBe('string');
          for (const sym of s.symbols ?? []) expect(isValidSymbol(sym)).toBe(true);
          if (s.symbols) expect(['subscribed', 'unsubscribed']).toContain(s.kind);
        }
        for (const r of out.rejected) {
          expect(r.reason).toMatch(/^[a-z_]+$/);
          // Samples are bounded: a hostile frame cannot make the log line that quotes it huge.
          expect(r.sample.length).toBeLessThanOrEqual(201);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a JSON array is split exactly, in order, between aggregates, statuses and rejections', () => {
    fc.assert(
      fc.property(fc.array(anyEvent, { maxLength: 20 }), (events) => {
        const out = decodeServerFrame(JSON.stringify(events));
        expect(out.aggregates.length + out.statuses.length + out.rejected.length).toBe(events.length);
        const aggs = events.filter((e) => typeof e === 'object' && e !== null && !Array.isArray(e) && (e as { ev?: unknown }).ev === 'A');
        expect(out.aggregates.length).toBeLessThanOrEqual(aggs.length);
      }),
      { numRuns: 500 },
    );
  });

  it('the encoders of the simulator decode to what they mean', () => {
    const frame = JSON.stringify([
      serverEvents.connected(),
      serverEvents.authSuccess(),
      serverEvents.subscribed('A.AAPL,A.MSFT'),
      serverEvents.maxConnections(),
      serverEvents.authTimeout(),
    ]);
    expect(decodeServerFrame(frame).statuses.map((s) => s.kind)).toEqual(['connected', 'auth_success', 'subscribed', 'max_connections', 'auth_timeout']);
  });
});

describe('decodeClientMessage (the simulator side)', () => {
  const clientMessage = recordOf({
    action: fc.oneof(fc.constantFrom('auth', 'subscribe', 'unsubscribe', 'AUTH', 'Subscribe', '__proto__'), nastyString, jsonValue),
    params: fc.oneof(channels, nastyString, jsonValue),
  });

  it('property: never throws; returns null or an action it knows with string params', () => {
    fc.assert(
      fc.property(fc.oneof(jsonishText(clientMessage), jsonishText()), (text) => {
        const m = decodeClientMessage(text);
        if (m === null) return;
        expect(['auth', 'subscribe', 'unsubscribe']).toContain(m.action);
        expect(typeof m.params).toBe('string');
        expect(() => splitChannels(m.params)).not.toThrow();
        for (const c of splitChannels(m.params)) {
          expect(c.length).toBeGreaterThan(0);
          expect(c).toBe(c.trim());
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a `__proto__` key is data, and pollutes nothing', () => {
    expect(decodeClientMessage('{"__proto__":{"action":"auth","params":"k"}}')).toBeNull();
    expect(decodeClientMessage('{"action":"auth","params":"k","__proto__":{"polluted":1}}')).toEqual({ action: 'auth', params: 'k' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
