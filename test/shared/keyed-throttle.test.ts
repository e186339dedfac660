import { describe, expect, it } from 'vitest';
import { KeyedThrottle } from '../../src/shared/keyed-throttle.js';

describe('KeyedThrottle', () => {
  it('lets a key through once per period and says how many were held back meanwhile', () => {
    let now = 0;
    const t = new KeyedThrottle({ periodMs: 60_000, now: () => now });
    expect(t.pass('a')).toEqual({ suppressed: 0 });
    expect(t.pass('a')).toBeNull();
    expect(t.pass('a')).toBeNull();
    expect(t.pass('b')).toEqual({ suppressed: 0 });
    now = 59_999;
    expect(t.pass('a')).toBeNull();
    now = 60_000;
    expect(t.pass('a')).toEqual({ suppressed: 3 });
    expect(t.pass('a')).toBeNull();
  });

  it('a clock stepped back does not silence a key for longer than the period', () => {
    let now = 100_000;
    const t = new KeyedThrottle({ periodMs: 60_000, now: () => now });
    t.pass('a');
    now = 0;
    expect(t.pass('a')).toEqual({ suppressed: 0 });
  });

  it('memory is bounded whatever the number of keys', () => {
    let now = 0;
    const t = new KeyedThrottle({ periodMs: 60_000, maxKeys: 50, now: () => now });
    for (let i = 0; i < 5_000; i++) {
      now = i;
      t.pass(`k${i}`);
    }
    expect(t.size).toBeLessThanOrEqual(50);
    // The most recent keys are still remembered.
    expect(t.pass('k4999')).toBeNull();
  });
});
