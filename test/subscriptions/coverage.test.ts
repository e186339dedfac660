import { describe, expect, it } from 'vitest';
import { AvailabilityMeter, coverageOf, shareOf } from '../../src/subscriptions/coverage.js';
import { emptyBook, toSymbolSet } from '../../src/subscriptions/subscription-book.js';

describe('coverage', () => {
  it('counts the wanted tickers the upstream acknowledged; extra acknowledgements do not count', () => {
    const book = { ...emptyBook, desired: toSymbolSet(['A', 'B', 'C', 'D']), acked: toSymbolSet(['A', 'B', 'X']) };
    expect(coverageOf(book, 0)).toEqual({ desired: 4, covered: 2 });
    expect(shareOf(coverageOf(book, 0) ?? { desired: 0, covered: 0 })).toBe(0.5);
  });

  it('right after a reconnect the SET is unknown: the last known count stands in, nothing is covered', () => {
    expect(coverageOf(emptyBook, 47)).toEqual({ desired: 47, covered: 0 });
  });

  it('before any read of the SET, coverage is unknown, not full', () => {
    expect(coverageOf(emptyBook, null)).toBeNull();
  });

  it('after a reconnect, acknowledgements never cover more than the count known before', () => {
    expect(coverageOf({ ...emptyBook, acked: toSymbolSet(['A', 'B', 'C']) }, 2)).toEqual({ desired: 2, covered: 2 });
    expect(coverageOf({ ...emptyBook, acked: toSymbolSet(['A']) }, 2)).toEqual({ desired: 2, covered: 1 });
    expect(shareOf({ desired: 4, covered: 1 })).toBe(0.25);
  });

  it('an empty SET is served in full', () => {
    expect(shareOf({ desired: 0, covered: 0 })).toBe(1);
  });
});

describe('AvailabilityMeter', () => {
  const full = { desired: 10, covered: 10 };
  const half = { desired: 10, covered: 5 };
  const none = { desired: 10, covered: 0 };

  it('integrates the time fully covered and the mean share over the time measured', () => {
    const m = new AvailabilityMeter();
    m.start(0, full);
    m.update(9_000, none); // dark from 9 s
    m.update(10_000, half); // half from 10 s
    m.update(11_000, full); // full again at 11 s
    const r = m.read(20_000);
    expect(r.measuredSeconds).toBe(20);
    expect(r.availability).toBeCloseTo(18 / 20, 10);
    expect(r.meanShare).toBeCloseTo((18 + 0 + 0.5) / 20, 10);
    expect(r.longestDarkSeconds).toBe(2);
    expect(r.darkForSeconds).toBe(0);
  });

  it('a dark spell still going counts in the longest one', () => {
    const m = new AvailabilityMeter();
    m.start(0, full);
    m.update(1_000, none);
    expect(m.read(4_500)).toMatchObject({ longestDarkSeconds: 3.5, darkForSeconds: 3.5 });
  });

  it('a pause ends a dark spell (it counts in the longest); starting or pausing twice changes nothing', () => {
    const m = new AvailabilityMeter();
    expect(m.read(0)).toEqual({ availability: null, meanShare: null, measuredSeconds: 0, longestDarkSeconds: 0, darkForSeconds: 0 });
    m.start(0, none);
    m.start(500, full);
    m.pause(2_000);
    m.pause(9_000);
    expect(m.read(50_000)).toEqual({ availability: 0, meanShare: 0, measuredSeconds: 2, longestDarkSeconds: 2, darkForSeconds: 0 });
    // A later, shorter spell does not replace the longest.
    m.start(60_000, none);
    m.update(61_000, full);
    expect(m.read(62_000)).toMatchObject({ measuredSeconds: 4, longestDarkSeconds: 2, availability: 0.25 });
  });

  it('a clock that steps back measures no negative time', () => {
    const m = new AvailabilityMeter();
    m.start(10_000, full);
    m.update(5_000, half);
    expect(m.read(5_000)).toMatchObject({ measuredSeconds: 0 });
    expect(m.read(11_000)).toMatchObject({ measuredSeconds: 1, meanShare: 0.5 });
  });

  it('measures nothing while paused, and nothing before it starts', () => {
    const m = new AvailabilityMeter();
    m.update(0, none);
    expect(m.read(5_000).availability).toBeNull();
    m.start(5_000, full);
    m.pause(6_000);
    m.update(7_000, none);
    m.start(100_000, full);
    expect(m.read(101_000)).toMatchObject({ measuredSeconds: 2, availability: 1, longestDarkSeconds: 0 });
  });
});
