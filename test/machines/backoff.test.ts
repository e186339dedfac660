import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/machines/backoff.js';

// Full jitter: a uniform wait in [0, min(max, base·2^(attempt-1))).

const JUST_BELOW_ONE = 1 - Number.EPSILON / 2;

describe('backoffDelay', () => {
  const s = { baseMs: 500, maxMs: 30_000 };

  it('random = 0 waits nothing, whatever the attempt', () => {
    for (const attempt of [0, 1, 2, 10, 100, 10_000]) expect(backoffDelay(attempt, s, () => 0)).toBe(0);
  });

  it('random → 1 approaches the ceiling from below: base·2^(attempt-1), capped at max', () => {
    const ceilings: [number, number][] = [
      [1, 500],
      [2, 1_000],
      [3, 2_000],
      [6, 16_000],
      [7, 30_000],
      [50, 30_000],
      [5_000, 30_000],
    ];
    for (const [attempt, ceiling] of ceilings) {
      expect(backoffDelay(attempt, s, () => JUST_BELOW_ONE)).toBe(ceiling - 1);
      expect(backoffDelay(attempt, s, () => 0.5)).toBe(ceiling / 2);
    }
  });

  it('attempts below 1 are treated as the first', () => {
    expect(backoffDelay(0, s, () => JUST_BELOW_ONE)).toBe(499);
    expect(backoffDelay(-3, s, () => JUST_BELOW_ONE)).toBe(499);
  });

  it('draws one random number per call and returns whole milliseconds', () => {
    let calls = 0;
    const d = backoffDelay(4, s, () => {
      calls++;
      return 0.123456;
    });
    expect(calls).toBe(1);
    expect(Number.isInteger(d)).toBe(true);
  });

  it('property: 0 ≤ delay < min(max, base·2^(attempt-1)), integer, monotone in random', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, r1, r2) => {
          const settings = { baseMs, maxMs };
          const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          const d = backoffDelay(attempt, settings, () => r1);
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(ceiling);
          const [lo, hi] = r1 <= r2 ? [r1, r2] : [r2, r1];
          expect(backoffDelay(attempt, settings, () => lo)).toBeLessThanOrEqual(backoffDelay(attempt, settings, () => hi));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: the ceiling never shrinks as attempts grow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 100_000 }), (attempt, baseMs, maxMs) => {
        const top = (a: number) => backoffDelay(a, { baseMs, maxMs }, () => JUST_BELOW_ONE);
        expect(top(attempt + 1)).toBeGreaterThanOrEqual(top(attempt));
      }),
    );
  });
});
