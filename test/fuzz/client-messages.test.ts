import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CATEGORIES, isCategory } from '../../src/shared/redis-keys.js';
import { MAX_LISTS_PER_REQUEST, parseClientMessage, unknownListsMessage } from '../../src/ws-server/client-protocol.js';
import { jsonishText, jsonValue, nastyString, recordOf } from './arbitraries.js';

// Browser clients are strangers: whatever text a client sends, the ws-server's parser answers
// with a request it can serve or a refusal it can send back, never a throw, and a refusal never
// carries the client's text back unbounded or with control characters in it.

const ERROR_CODES = new Set(['invalid_json', 'invalid_message', 'unknown_action', 'unknown_list', 'not_subscribed', 'too_many_lists', 'binary_not_supported']);
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const listName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CATEGORIES) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((n) => 'x'.repeat(n)) },
);
const message = recordOf({
  action: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'resync', 'ping', 'Subscribe', '__proto__', 'constructor'), nastyString, jsonValue),
  lists: fc.oneof(fc.array(listName, { maxLength: MAX_LISTS_PER_REQUEST + 5 }), fc.array(fc.oneof(listName, jsonValue), { maxLength: 5 }), jsonValue),
  list: fc.oneof(listName, jsonValue),
});

describe('parseClientMessage', () => {
  it('property: never throws; a request of known lists, or a refusal with a bounded, clean message', () => {
    fc.assert(
      fc.property(fc.oneof(jsonishText(message), jsonishText()), (text) => {
        const p = parseClientMessage(text);
        if (!p.ok) {
          expect(ERROR_CODES.has(p.code)).toBe(true);
          expect(p.message.length).toBeLessThanOrEqual(200);
          expect(p.message).not.toMatch(CONTROL);
          return;
        }
        const r = p.request;
        expect(['subscribe', 'unsubscribe', 'resync', 'ping']).toContain(r.action);
        if (r.action === 'ping') return;
        for (const l of r.lists) expect(isCategory(l)).toBe(true);
        expect(new Set(r.lists).size).toBe(r.lists.length);
        expect(new Set(r.unknown).size).toBe(r.unknown.length);
        expect(r.lists.length + r.unknown.length).toBeLessThanOrEqual(MAX_LISTS_PER_REQUEST);
        for (const u of r.unknown) expect(isCategory(u)).toBe(false);
        // What the server says back about unknown names is bounded and clean, whatever they were.
        if (r.unknown.length > 0) {
          const text = unknownListsMessage(r.unknown);
          expect(text.length).toBeLessThanOrEqual(400);
          expect(text).not.toMatch(CONTROL);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('prototype keys are data: they neither pass as fields nor pollute', () => {
    expect(parseClientMessage('{"__proto__":{"action":"ping"}}').ok).toBe(false);
    expect(parseClientMessage('{"action":"subscribe","__proto__":{"lists":["winners"]}}').ok).toBe(false);
    expect(parseClientMessage('{"action":"subscribe","lists":["__proto__","winners"]}')).toEqual({
      ok: true,
      request: { action: 'subscribe', lists: ['winners'], unknown: ['__proto__'] },
    });
    expect(({} as Record<string, unknown>).lists).toBeUndefined();
  });
});
