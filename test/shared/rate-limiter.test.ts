import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillBucket, KeyedRateLimiter, takeToken, type TokenBucket } from '../../src/shared/rate-limiter.js';

// The token bucket the ws-server applies per socket and the HTTP API per client address.

describe('takeToken', () => {
  it('a full bucket lets `burst` through at once, then one per 1/perSecond', () => {
    const b: TokenBucket = { tokens: 0, refillAt: 0 };
    fillBucket(b, 3, 1_000);
    expect([1, 2, 3, 4].map(() => takeToken(b, 1_000, 2, 3))).toEqual([true, true, true, false]);
    expect(takeToken(b, 1_499, 2, 3)).toBe(false);
    expect(takeToken(b, 1_500, 2, 3)).toBe(true);
    expect(takeToken(b, 1_500, 2, 3)).toBe(false);
  });

  it('never holds more than `burst`, however long it was idle', () => {
    const b: TokenBucket = { tokens: 0, refillAt: 0 };
    fillBucket(b, 2, 0);
    expect([1, 2, 3].map(() => takeToken(b, 3_600_000, 5, 2))).toEqual([true, true, false]);
  });

  it('a clock stepped back neither drains nor fills the bucket', () => {
    const b: TokenBucket = { tokens: 0, refillAt: 0 };
    fillBucket(b, 2, 10_000);
    expect(takeToken(b, 5_000, 1, 2)).toBe(true);
    expect(takeToken(b, 5_000, 1, 2)).toBe(true);
    expect(takeToken(b, 5_000, 1, 2)).toBe(false);
    expect(takeToken(b, 6_000, 1, 2)).toBe(true);
  });

  it('property: over any schedule, what is let through never exceeds burst + rate × elapsed', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 1_000, noNaN: true }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 300 }),
        (perSecond, burst, gaps) => {
          const b: TokenBucket = { tokens: 0, refillAt: 0 };
          fillBucket(b, burst, 0);
          let t = 0;
          let passed = 0;
          for (const g of gaps) {
            t += g;
            if (takeToken(b, t, perSecond, burst)) passed++;
            expect(b.tokens).toBeGreaterThanOrEqual(0);
            expect(b.tokens).toBeLessThanOrEqual(burst);
          }
          expect(passed).toBeLessThanOrEqual(burst + Math.floor((t * perSecond) / 1000) + 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('KeyedRateLimiter', () => {
  it('keeps one bucket per key', () => {
    let now = 0;
    const l = new KeyedRateLimiter({ perSecond: 1, burst: 2, now: () => now });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, false]);
    expect([l.take('b'), l.take('b'), l.take('b')]).toEqual([true, true, false]);
    now = 1_000;
    expect([l.take('a'), l.take('a')]).toEqual([true, false]);
  });

  it('refuses a rate that would let nothing through or everything', () => {
    expect(() => new KeyedRateLimiter({ perSecond: 0, burst: 5 })).toThrow(RangeError);
    expect(() => new KeyedRateLimiter({ perSecond: 5, burst: 0 })).toThrow(RangeError);
    expect(() => new KeyedRateLimiter({ perSecond: Number.NaN, burst: 5 })).toThrow(RangeError);
  });

  it('memory is bounded whatever the number of keys; idle buckets go first, then the least recently used', () => {
    let now = 0;
    const l = new KeyedRateLimiter({ perSecond: 10, burst: 2, maxKeys: 3, now: () => now });
    l.take('busy');
    l.take('busy'); // drained
    l.take('idle');
    now = 100; // 'idle' is not yet full again (refill takes 200 ms)
    l.take('x');
    expect(l.size).toBe(3);
    // Full: the least recently used ('busy') is dropped for 'y', and comes back with a fresh bucket.
    l.take('y');
    expect(l.size).toBe(3);
    now = 10_000; // every bucket idle: all are dropped to make room
    l.take('z');
    expect(l.size).toBe(1);
    for (let i = 0; i < 10_000; i++) l.take(`k${i}`);
    expect(l.size).toBe(3);
  });

  it('a drained key stays limited while other keys come and go below the bound', () => {
    let now = 0;
    const l = new KeyedRateLimiter({ perSecond: 1, burst: 1, maxKeys: 100, now: () => now });
    expect(l.take('attacker')).toBe(true);
    for (let i = 0; i < 50; i++) l.take(`other${i}`);
    expect(l.take('attacker')).toBe(false);
    now = 1_000;
    expect(l.take('attacker')).toBe(true);
  });
});
