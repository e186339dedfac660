import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AGGREGATE_EVENT,
  channelOf,
  decodeClientMessage,
  decodeServerFrame,
  encodeAuth,
  encodeSubscription,
  isValidSymbol,
  serverEvents,
  splitChannels,
  symbolOfChannel,
  type StatusKind,
} from '../../src/upstream/codec.js';

// The wire protocol of shared/docs/upstream-protocol.md: every status text of that page, full
// aggregates, and whatever a hostile or broken upstream might send (which must never throw).

const frame = (...events: unknown[]): string => JSON.stringify(events);
const status = (s: string, message: string) => ({ ev: 'status', status: s, message });

const fullAggregate = {
  ev: 'A',
  sym: 'AAPL',
  v: 4110,
  av: 9470157,
  op: 178.32,
  vw: 178.6046,
  o: 178.6,
  c: 178.61,
  h: 178.62,
  l: 178.59,
  a: 178.1987,
  z: 685,
  s: 1_700_000_000_000,
  e: 1_700_000_001_000,
};

/**
 * Symbols as the upstream spells them (case-sensitive): an upper-case root, then letters of
 * either case, digits and `.` `-` `/`; half of them built the provider's (CQS) way, a root and a
 * suffix such as a preferred `p` (`AMpB`) or a class after a dot (`BRK.B`).
 */
const rootArb = fc.stringMatching(/^[A-Z]{1,5}$/);
const suffixArb = fc.constantFrom('', 'p', 'pA', 'pB', 'pC', '.A', '.B', '.WS', '.WS.A', '.U', 'r', 'w', 'rw', 'pw', 'pAw', '.CL', 'p.CL', 'pA.CL', '.WD');
const providerSymbolArb = fc.tuple(rootArb, suffixArb).map(([root, suffix]) => root + suffix);
const symbolArb = fc.oneof(providerSymbolArb, fc.stringMatching(/^[A-Z][A-Za-z0-9.\-/]{0,15}$/));

describe('decodeServerFrame: status events of the protocol page', () => {
  const cases: [string, ReturnType<typeof status>, StatusKind][] = [
    ['connected', status('connected', 'Connected Successfully'), 'connected'],
    ['auth_success', status('auth_success', 'authenticated'), 'auth_success'],
    ['auth_failed', status('auth_failed', 'authentication failed'), 'auth_failed'],
    ['auth timeout', status('error', 'No authentication request received.'), 'auth_timeout'],
    [
      'max_connections',
      status(
        'max_connections',
        'Maximum number of websocket connections exceeded. You have reached the connection limit for your account. Please contact support at https://polygon.io/contact to increase your limit.',
      ),
      'max_connections',
    ],
    ['slow_consumer', status('slow_consumer', 'slow consumer'), 'slow_consumer'],
    ['force_disconnect', status('force_disconnect', 'force disconnect'), 'force_disconnect'],
    ['another error', status('error', 'not authorized'), 'error'],
    ['an unknown status', status('whatever', 'something new'), 'other'],
    ['a success that is no ack', status('success', 'all good'), 'other'],
  ];

  it.each(cases)('%s', (_name, ev, kind) => {
    const out = decodeServerFrame(frame(ev));
    expect(out.rejected).toEqual([]);
    expect(out.aggregates).toEqual([]);
    expect(out.statuses).toEqual([{ kind, status: ev.status, message: ev.message }]);
  });

  it('recognises the auth timeout by its message whatever the status and the case', () => {
    expect(decodeServerFrame(frame(status('', 'no authentication request received.'))).statuses[0]?.kind).toBe('auth_timeout');
    expect(decodeServerFrame(frame({ ev: 'status', message: 'No authentication request received.' })).statuses[0]?.kind).toBe(
      'auth_timeout',
    );
  });

  it('a status with missing or non-string fields still decodes, with empty texts', () => {
    const out = decodeServerFrame(frame({ ev: 'status' }, { ev: 'status', status: 7, message: { a: 1 } }));
    expect(out.statuses).toEqual([
      { kind: 'other', status: '', message: '' },
      { kind: 'other', status: '', message: '' },
    ]);
    expect(out.rejected).toEqual([]);
  });

  it('subscribed to: A.AAPL', () => {
    const out = decodeServerFrame(frame(status('success', 'subscribed to: A.AAPL')));
    expect(out.statuses).toEqual([{ kind: 'subscribed', status: 'success', message: 'subscribed to: A.AAPL', symbols: ['AAPL'] }]);
  });

  it('unsubscribed to: A.X', () => {
    const out = decodeServerFrame(frame(status('success', 'unsubscribed to: A.X')));
    expect(out.statuses).toEqual([{ kind: 'unsubscribed', status: 'success', message: 'unsubscribed to: A.X', symbols: ['X'] }]);
  });

  it('an ack naming several channels yields each A symbol, ignoring other event types and junk', () => {
    const out = decodeServerFrame(frame(status('success', 'subscribed to: A.AAPL, A.MSFT,AM.TSLA,T.NIO,A.bad,,A.BRK.B')));
    expect(out.statuses[0]?.kind).toBe('subscribed');
    expect(out.statuses[0]?.symbols).toEqual(['AAPL', 'MSFT', 'BRK.B']);
  });

  it('an ack of preferreds and classes yields their symbols as spelled', () => {
    const out = decodeServerFrame(frame(status('success', 'subscribed to: A.AMpB,A.BCpC,A.BRK.B,A.AAPL')));
    expect(out.statuses[0]?.symbols).toEqual(['AMpB', 'BCpC', 'BRK.B', 'AAPL']);
  });

  it('an ack for no A channel at all is still an ack, of nothing', () => {
    const out = decodeServerFrame(frame(status('success', 'subscribed to: T.AAPL')));
    expect(out.statuses).toEqual([{ kind: 'subscribed', status: 'success', message: 'subscribed to: T.AAPL', symbols: [] }]);
  });

  it('one frame carrying many events of different kinds keeps their order within each list', () => {
    const out = decodeServerFrame(
      frame(
        status('success', 'subscribed to: A.AAPL'),
        fullAggregate,
        { ...fullAggregate, sym: 'MSFT' },
        status('success', 'unsubscribed to: A.NIO'),
        { ev: 'Q', sym: 'AAPL' },
      ),
    );
    expect(out.statuses.map((s) => [s.kind, s.symbols])).toEqual([
      ['subscribed', ['AAPL']],
      ['unsubscribed', ['NIO']],
    ]);
    expect(out.aggregates.map((a) => a.sym)).toEqual(['AAPL', 'MSFT']);
    expect(out.rejected.map((r) => r.reason)).toEqual(['unknown_event_type']);
  });
});

describe('decodeServerFrame: aggregates', () => {
  it('decodes every field and keeps the raw event as sent', () => {
    const out = decodeServerFrame(frame(fullAggregate));
    expect(out.rejected).toEqual([]);
    expect(out.statuses).toEqual([]);
    expect(out.aggregates).toEqual([
      { sym: 'AAPL', o: 178.6, c: 178.61, h: 178.62, l: 178.59, v: 4110, s: 1_700_000_000_000, e: 1_700_000_001_000, raw: fullAggregate },
    ]);
    expect(out.aggregates[0]?.raw.otc).toBeUndefined();
    const otc = decodeServerFrame(frame({ ...fullAggregate, otc: true })).aggregates[0];
    expect(otc?.raw.otc).toBe(true);
  });

  it('accepts an aggregate with only the required fields (av, op, vw, a, z are optional)', () => {
    const minimal = { ev: 'A', sym: 'X', o: 1, c: 1, h: 1, l: 1, v: 0, s: 0, e: 1000 };
    expect(decodeServerFrame(frame(minimal)).aggregates).toHaveLength(1);
  });

  it.each(['o', 'c', 'h', 'l', 'v', 's', 'e'])('rejects a missing, string, null or NaN-like %s, naming the field', (f) => {
    const { [f as keyof typeof fullAggregate]: _dropped, ...missing } = fullAggregate;
    const bad = [missing, { ...fullAggregate, [f]: '1.5' }, { ...fullAggregate, [f]: null }, { ...fullAggregate, [f]: true }];
    const out = decodeServerFrame(frame(...bad));
    expect(out.aggregates).toEqual([]);
    expect(out.rejected.map((r) => r.reason)).toEqual(bad.map(() => `aggregate_bad_field_${f}`));
  });

  it('rejects non-finite numbers (JSON cannot carry NaN: 1e999 parses to Infinity)', () => {
    const out = decodeServerFrame('[{"ev":"A","sym":"AAPL","o":1e999,"c":1,"h":1,"l":1,"v":1,"s":0,"e":1000}]');
    expect(out.aggregates).toEqual([]);
    expect(out.rejected.map((r) => r.reason)).toEqual(['aggregate_bad_field_o']);
    // NaN is not JSON at all: the whole frame is invalid.
    expect(decodeServerFrame('[{"ev":"A","sym":"AAPL","o":NaN}]').rejected.map((r) => r.reason)).toEqual(['invalid_json']);
  });

  it.each([
    ['lower case from its first letter', 'aapl'],
    ['a lower-case root', 'amPB'],
    ['empty', ''],
    ['a digit first', '1ABC'],
    ['a dot first', '.B'],
    ['too long', 'A'.repeat(17)],
    ['a space', 'BRK B'],
    ['a leading space', ' AAPL'],
    ['a trailing tab', 'AAPL\t'],
    ['a newline', 'AM\npB'],
    ['a comma', 'A,B'],
    ['the wildcard', '*'],
    ['a star', 'A*'],
    ['a control character', 'AM\u0000pB'],
    ['a DEL', 'AMpB\u007f'],
    ['non-ASCII', 'AMßB'],
    ['a full-width letter', 'AＡPL'],
    ['a Cyrillic look-alike', 'АAPL'],
    ['a number', 42],
    ['missing', undefined],
  ])('rejects a symbol that is %s', (_name, sym) => {
    const out = decodeServerFrame(frame({ ...fullAggregate, sym }));
    expect(out.aggregates).toEqual([]);
    expect(out.rejected.map((r) => r.reason)).toEqual(['aggregate_bad_symbol']);
  });

  it('accepts the punctuation real tickers use', () => {
    for (const sym of ['BRK.B', 'BF-B', 'TEST/WS', 'A', 'ABCDEFGHIJKLMNOP']) {
      expect(decodeServerFrame(frame({ ...fullAggregate, sym })).aggregates[0]?.sym).toBe(sym);
    }
  });

  it('accepts preferreds and classes as the provider spells them, case kept', () => {
    const syms = ['AMpB', 'BCpC', 'BRK.B', 'AAPL', 'AMPB', 'ABRpD', 'XYZ.WS', 'XYZ.WS.A', 'ACpA.CL', 'GRPw', 'CELGr', 'Ap', 'ABCDEFGHIJKLMNOp'];
    const out = decodeServerFrame(frame(...syms.map((sym) => ({ ...fullAggregate, sym }))));
    expect(out.rejected).toEqual([]);
    expect(out.aggregates.map((a) => a.sym)).toEqual(syms);
    expect(out.aggregates.map((a) => a.raw.sym)).toEqual(syms);
  });
});

describe('decodeServerFrame: hostile input', () => {
  it.each([
    ['invalid JSON', '[{"ev":"A"', 'invalid_json'],
    ['empty text', '', 'invalid_json'],
    ['an object instead of an array', JSON.stringify(fullAggregate), 'not_an_array'],
    ['a number', '42', 'not_an_array'],
    ['null', 'null', 'not_an_array'],
    ['a JSON string', '"hello"', 'not_an_array'],
  ])('%s is one rejection', (_name, raw, reason) => {
    const out = decodeServerFrame(raw);
    expect(out.aggregates).toEqual([]);
    expect(out.statuses).toEqual([]);
    expect(out.rejected).toHaveLength(1);
    expect(out.rejected[0]?.reason).toBe(reason);
  });

  it('an empty array is nothing at all', () => {
    expect(decodeServerFrame('[]')).toEqual({ aggregates: [], statuses: [], rejected: [] });
  });

  it('every non-object element is its own rejection', () => {
    const out = decodeServerFrame(frame(1, 'A', null, true, [fullAggregate], fullAggregate));
    expect(out.rejected.map((r) => r.reason)).toEqual(Array(5).fill('event_not_an_object'));
    expect(out.aggregates).toHaveLength(1);
  });

  it('unknown, missing or non-string ev values are rejected as unknown event types', () => {
    const out = decodeServerFrame(frame({ ...fullAggregate, ev: 'AM' }, { ...fullAggregate, ev: undefined }, { ev: 1 }, { ev: 'a' }, {}));
    expect(out.rejected.map((r) => r.reason)).toEqual(Array(5).fill('unknown_event_type'));
  });

  it('samples are bounded, whatever the size of the input', () => {
    const huge = 'x'.repeat(1_000_000);
    const outs = [
      decodeServerFrame(huge),
      decodeServerFrame(frame(huge)),
      decodeServerFrame(frame({ ev: huge })),
      decodeServerFrame(frame({ ...fullAggregate, sym: huge })),
      decodeServerFrame(frame(status('success', `subscribed to: ${'A.X,'.repeat(100_000)}`))),
    ];
    for (const out of outs) for (const r of out.rejected) expect(r.sample.length).toBeLessThanOrEqual(201);
    expect(outs.slice(0, 4).every((o) => o.rejected.length === 1)).toBe(true);
    expect(outs[4]?.statuses[0]?.symbols).toHaveLength(100_000);
  });

  it('survives nesting too deep to print again, and fields named like Object methods', () => {
    // Found by this test: the sample of a deeply nested element used to overflow the stack.
    const deep = (d: number) => '['.repeat(d) + ']'.repeat(d);
    for (const d of [1_000, 20_000, 200_000]) {
      expect(decodeServerFrame(`[${deep(d)}]`).rejected.map((r) => r.reason)).toEqual(['event_not_an_object']);
      expect(decodeServerFrame(`[{"ev":"A","toString":1,"valueOf":2,"x":${deep(d)}}]`).rejected.map((r) => r.reason)).toEqual([
        'aggregate_bad_symbol',
      ]);
      expect(decodeServerFrame(`{"toString":1,"x":${deep(d)}}`).rejected.map((r) => r.reason)).toEqual(['not_an_array']);
    }
  });

  it('__proto__ and constructor fields are plain data', () => {
    const out = decodeServerFrame('[{"__proto__":{"ev":"A"},"constructor":1,"ev":"status","status":"connected","message":"m"}]');
    expect(out.statuses.map((s) => s.kind)).toEqual(['connected']);
    expect(({} as Record<string, unknown>).ev).toBeUndefined();
  });

  it('property: never throws on any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.json(),
          fc.array(fc.anything()).map((a) => {
            try {
              return JSON.stringify(a) ?? '';
            } catch {
              return '[';
            }
          }),
          // A valid frame cut anywhere.
          fc.tuple(fc.array(fc.jsonValue()), fc.nat()).map(([a, n]) => JSON.stringify(a).slice(0, n)),
        ),
        (raw) => {
        const out = decodeServerFrame(raw);
          expect(out.aggregates.length + out.statuses.length + out.rejected.length).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: every element of a JSON array ends up in exactly one of aggregates, statuses, rejected', () => {
    const numberish = fc.oneof(fc.double(), fc.integer(), fc.constant('1'), fc.constant(null), fc.constant(undefined));
    const eventArb = fc.oneof(
      fc.jsonValue(),
      fc.record({
        ev: fc.constantFrom('A', 'status', 'AM', 'T', 7, undefined),
        sym: fc.oneof(symbolArb, fc.string()),
        o: numberish,
        c: numberish,
        h: numberish,
        l: numberish,
        v: numberish,
        s: numberish,
        e: numberish,
      }),
      fc.record({
        ev: fc.constant('status'),
        status: fc.oneof(
          fc.constantFrom('connected', 'auth_success', 'auth_failed', 'success', 'error', 'max_connections'),
          fc.string(),
        ),
        message: fc.oneof(
          fc.string(),
          fc.array(fc.oneof(symbolArb.map((s) => channelOf(s)), fc.string())).map((cs) => `subscribed to: ${cs.join(',')}`),
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
        const raw = JSON.stringify(events);
        const parsed = JSON.parse(raw) as unknown[];
        const out = decodeServerFrame(raw);
        expect(out.aggregates.length + out.statuses.length + out.rejected.length).toBe(parsed.length);
        for (const a of out.aggregates) {
          expect(isValidSymbol(a.sym)).toBe(true);
          for (const f of [a.o, a.c, a.h, a.l, a.v, a.s, a.e]) expect(Number.isFinite(f)).toBe(true);
        }
        for (const s of out.statuses) for (const sym of s.symbols ?? []) expect(isValidSymbol(sym)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('isValidSymbol: the forms of the provider in, what cannot be a symbol out', () => {
  const BAD_CHAR = /[\s,*]|[^\x21-\x7e]/;

  it('property: every symbol built the way the provider builds them is valid, and decodes as itself', () => {
    fc.assert(
      fc.property(providerSymbolArb, (sym) => {
        expect(isValidSymbol(sym)).toBe(true);
        expect(decodeServerFrame(frame({ ...fullAggregate, sym })).aggregates[0]?.sym).toBe(sym);
        expect(symbolOfChannel(channelOf(sym))).toBe(sym);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: case is part of the symbol: a symbol and its upper-cased spelling are each kept as they are', () => {
    fc.assert(
      fc.property(rootArb, fc.constantFrom('p', 'pA', 'pB', 'pC', 'r', 'w', 'pAw'), (root, suffix) => {
        const sym = root + suffix;
        const upper = sym.toUpperCase();
        expect(upper).not.toBe(sym);
        const out = decodeServerFrame(frame({ ...fullAggregate, sym }, { ...fullAggregate, sym: upper }));
        expect(out.aggregates.map((a) => a.sym)).toEqual([sym, upper]);
        const ack = decodeServerFrame(frame(status('success', `subscribed to: ${channelOf(sym)},${channelOf(upper)}`)));
        expect(ack.statuses[0]?.symbols).toEqual([sym, upper]);
      }),
      { numRuns: 300 },
    );
  });

  it('property: a valid symbol is 1 to 16 printable ASCII characters, an upper-case letter first, no space, comma or star', () => {
    const anyText = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.string({ maxLength: 20, unit: 'binary' }),
      fc.string({ maxLength: 20, unit: fc.constantFrom(...'AZaz09.-/,* \t\n\u0000\u007fßＡА'.split('')) }),
      symbolArb,
    );
    fc.assert(
      fc.property(anyText, (s) => {
        const shaped = s.length >= 1 && s.length <= 16 && /^[A-Z]/.test(s);
        // What cannot be a symbol never passes…
        if (isValidSymbol(s)) expect(shaped && !BAD_CHAR.test(s)).toBe(true);
        // …and letters of either case, digits and . - / after an upper-case letter always do.
        if (shaped && /^[A-Za-z0-9.\-/]+$/.test(s)) expect(isValidSymbol(s)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: a valid symbol never splits a channel list', () => {
    fc.assert(
      fc.property(fc.array(symbolArb, { minLength: 1, maxLength: 20 }), (symbols) => {
        const params = symbols.map((s) => channelOf(s)).join(',');
        expect(splitChannels(params).map((c) => symbolOfChannel(c))).toEqual(symbols);
      }),
      { numRuns: 300 },
    );
  });
});

describe('client messages', () => {
  it('encodeAuth is the auth message of the page, and decodes back', () => {
    expect(JSON.parse(encodeAuth('KEY123'))).toEqual({ action: 'auth', params: 'KEY123' });
    expect(decodeClientMessage(encodeAuth('k"e\\y'))).toEqual({ action: 'auth', params: 'k"e\\y' });
  });

  it('encodeSubscription is the comma-separated channel list of the page', () => {
    expect(JSON.parse(encodeSubscription('subscribe', ['AAPL', 'MSFT']))).toEqual({ action: 'subscribe', params: 'A.AAPL,A.MSFT' });
    expect(JSON.parse(encodeSubscription('unsubscribe', ['AAPL']))).toEqual({ action: 'unsubscribe', params: 'A.AAPL' });
  });

  it('decodeClientMessage refuses anything but an object with a known action and string params', () => {
    for (const raw of [
      'nope',
      '[]',
      'null',
      '"auth"',
      '{"action":"auth"}',
      '{"action":"auth","params":1}',
      '{"action":"login","params":"x"}',
      '[{"action":"auth","params":"x"}]',
    ]) {
      expect(decodeClientMessage(raw)).toBeNull();
    }
  });

  it('splitChannels trims and drops empty entries', () => {
    expect(splitChannels(' A.AAPL , ,A.MSFT,')).toEqual(['A.AAPL', 'A.MSFT']);
    expect(splitChannels('')).toEqual([]);
  });

  it('symbolOfChannel takes only A channels with a valid symbol', () => {
    expect(symbolOfChannel('A.AAPL')).toBe('AAPL');
    expect(symbolOfChannel('A.BRK.B')).toBe('BRK.B');
    expect(symbolOfChannel('AM.AAPL')).toBeNull();
    expect(symbolOfChannel('A.*')).toBeNull();
    expect(symbolOfChannel('A.')).toBeNull();
    expect(symbolOfChannel('AAPL')).toBeNull();
    expect(symbolOfChannel('AM.AAPL', 'AM')).toBe('AAPL');
    expect(symbolOfChannel('A.AMpB')).toBe('AMpB');
    expect(symbolOfChannel('A.BCpC')).toBe('BCpC');
    expect(symbolOfChannel('A.aapl')).toBeNull();
    expect(channelOf('AAPL')).toBe(`${AGGREGATE_EVENT}.AAPL`);
    expect(channelOf('AMpB')).toBe(`${AGGREGATE_EVENT}.AMpB`);
  });

  it('encodes preferreds and classes into channels as spelled', () => {
    expect(JSON.parse(encodeSubscription('subscribe', ['AMpB', 'BCpC', 'BRK.B', 'AAPL']))).toEqual({
      action: 'subscribe',
      params: 'A.AMpB,A.BCpC,A.BRK.B,A.AAPL',
    });
  });

  it('property: subscriptions round-trip through decodeClientMessage, splitChannels and symbolOfChannel', () => {
    fc.assert(
      fc.property(fc.constantFrom('subscribe' as const, 'unsubscribe' as const), fc.array(symbolArb, { maxLength: 50 }), (action, symbols) => {
        const msg = decodeClientMessage(encodeSubscription(action, symbols));
        expect(msg?.action).toBe(action);
        expect(splitChannels(msg?.params ?? '').map((c) => symbolOfChannel(c))).toEqual(symbols);
      }),
      { numRuns: 500 },
    );
  });

  it('property: any API key round-trips through encodeAuth', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (key) => {
        expect(decodeClientMessage(encodeAuth(key))).toEqual({ action: 'auth', params: key });
      }),
    );
  });
});

describe('serverEvents: what the simulator sends decodes to the right kinds', () => {
  const expected: [keyof typeof serverEvents, StatusKind][] = [
    ['connected', 'connected'],
    ['connectedSuccess', 'connected'],
    ['authSuccess', 'auth_success'],
    ['authFailed', 'auth_failed'],
    ['authTimeout', 'auth_timeout'],
    ['notAuthorized', 'error'],
    ['maxConnections', 'max_connections'],
    ['slowConsumer', 'slow_consumer'],
    ['forceDisconnect', 'force_disconnect'],
  ];

  it('covers every encoder', () => {
    expect(new Set([...expected.map(([k]) => k), 'subscribed', 'unsubscribed'])).toEqual(new Set(Object.keys(serverEvents)));
  });

  it.each(expected)('%s → %s', (name, kind) => {
    const make = serverEvents[name] as () => Record<string, unknown>;
    const out = decodeServerFrame(frame(make()));
    expect(out.rejected).toEqual([]);
    expect(out.statuses.map((s) => s.kind)).toEqual([kind]);
  });

  it.each([
    ['auth_timeout', 'No authentication request received.', 'auth_timeout'],
    ['auth_required', 'subscribe requires authentication', 'auth_required'],
    ['success', 'Connected Successfully', 'connected'],
    ['something_new', 'a status no document lists', 'other'],
  ] as const)('the status %s (%s) decodes to %s, never a rejection', (st, message, kind) => {
    const out = decodeServerFrame(frame(status(st, message)));
    expect(out.rejected).toEqual([]);
    expect(out.statuses.map((s) => s.kind)).toEqual([kind]);
  });

  it('the texts are those of the protocol page', () => {
    expect(serverEvents.connected()).toEqual(status('connected', 'Connected Successfully'));
    expect(serverEvents.authSuccess()).toEqual(status('auth_success', 'authenticated'));
    expect(serverEvents.authFailed()).toEqual(status('auth_failed', 'authentication failed'));
    expect(serverEvents.authTimeout().message).toBe('No authentication request received.');
    expect(serverEvents.maxConnections().message).toMatch(/^Maximum number of websocket connections exceeded\. You have reached the connection limit for your account/);
  });

  it('property: (un)subscribed acks decode to the acknowledged symbol', () => {
    fc.assert(
      fc.property(symbolArb, (sym) => {
        const out = decodeServerFrame(frame(serverEvents.subscribed(channelOf(sym)), serverEvents.unsubscribed(channelOf(sym))));
        expect(out.statuses.map((s) => [s.kind, s.symbols])).toEqual([
          ['subscribed', [sym]],
          ['unsubscribed', [sym]],
        ]);
      }),
    );
  });
});
