import fc from 'fast-check';

// Hostile input shared by the fuzz suites: texts that are nearly JSON, JSON of every shape, and
// the strings that break careless parsers (prototype keys, lone surrogates, control characters).

export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u2028\u2029',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'NaN',
  'Infinity',
  '-0',
  '1e999',
  'null',
  'undefined',
  'A'.repeat(17),
  'ß',
  'ﬀ',
  'ı',
  'ǆ',
  '../../etc/passwd',
  '%00',
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
] as const;

export const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
);

/** Any JSON value, numbers that JSON cannot carry (as 1e999) included, nested a little. */
export const jsonValue = fc.jsonValue({ maxDepth: 4 });

/** Texts for a JSON parser: valid JSON, JSON cut short, random text, deep nesting. */
export function jsonishText(values: fc.Arbitrary<unknown> = jsonValue): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: values.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.tuple(values, fc.nat()).map(([v, n]) => (JSON.stringify(v) ?? '').slice(0, n)) },
    { weight: 1, arbitrary: nastyString },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom('[', '{"a":', '[{"ev":"A","x":'), fc.integer({ min: 1, max: 5_000 })).map(([open, n]) => open.repeat(n)),
    },
    { weight: 1, arbitrary: fc.constantFrom('1e999', '-1e999', '[1e999]', '{"a":1e999}', '"\\ud800"', '[]', '{}', 'null', 'true', '0') },
  );
}

/** An object made of a few known keys (with good and bad values) and random ones. */
export function recordOf(known: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.record(known, { requiredKeys: [] }),
      fc.dictionary(nastyString, jsonValue, { maxKeys: 3 }),
      fc.boolean(),
    )
    .map(([k, extra, extraFirst]) => (extraFirst ? { ...extra, ...k } : { ...k, ...extra }));
}

/** A value of a numeric field: good, missing, or wrong. */
export const numberish = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(null, '1', '', true, [], {}, -1, 0, Number.MAX_VALUE, 1e20, 1e15) },
);

export const tickerish = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Z][A-Za-z0-9.\-/]{0,15}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('AAPL', 'MSFT', 'BRK.B', 'BF/B', 'AMpB', 'BCpC', 'AMPB', 'aapl', ' AAPL', 'AAPL ', 'A'.repeat(17), '1ABC', 'AM,pB'),
  },
  { weight: 1, arbitrary: nastyString },
  { weight: 1, arbitrary: jsonValue },
);
