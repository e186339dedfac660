import { describe, expect, it } from 'vitest';
import {
  expectedMinuteVolumeShare,
  expectedVolumeFraction,
  newYorkClock,
  sessionAt,
  sessionAtMinute,
} from '../../src/scanner/market-session.js';

describe('market session', () => {
  it('reads the New York clock in winter (EST) and summer (EDT)', () => {
    const winter = newYorkClock(Date.parse('2025-11-25T16:48:30Z'));
    expect(winter.date).toBe('2025-11-25');
    expect(winter.weekday).toBe(2);
    expect(winter.minuteOfDay).toBeCloseTo(11 * 60 + 48.5, 5);
    const summer = newYorkClock(Date.parse('2025-07-01T13:30:00Z'));
    expect(summer.minuteOfDay).toBe(9 * 60 + 30);
    expect(sessionAt(summer)).toBe('MARKET_OPEN');
  });

  it('names the sessions as the seeds do', () => {
    expect(sessionAtMinute(3 * 60 + 59)).toBe('CLOSED');
    expect(sessionAtMinute(4 * 60)).toBe('PRE_MARKET');
    expect(sessionAtMinute(9 * 60 + 29.9)).toBe('PRE_MARKET');
    expect(sessionAtMinute(9 * 60 + 30)).toBe('MARKET_OPEN');
    expect(sessionAtMinute(16 * 60)).toBe('POST_MARKET');
    expect(sessionAtMinute(20 * 60)).toBe('CLOSED');
    // A Saturday at noon.
    expect(sessionAt(newYorkClock(Date.parse('2025-11-29T17:00:00Z')))).toBe('CLOSED');
  });

  it('spreads a typical day of volume over the sessions, never decreasing', () => {
    expect(expectedVolumeFraction(4 * 60)).toBe(0);
    expect(expectedVolumeFraction(9 * 60 + 30)).toBeCloseTo(0.05);
    expect(expectedVolumeFraction(16 * 60)).toBeCloseTo(0.95);
    expect(expectedVolumeFraction(20 * 60)).toBe(1);
    expect(expectedVolumeFraction(2 * 60)).toBe(1);
    let prev = 0;
    for (let m = 240; m <= 1200; m += 7) {
      const f = expectedVolumeFraction(m);
      expect(f).toBeGreaterThanOrEqual(prev);
      prev = f;
    }
    // The per-minute share integrates to the curve.
    let sum = 0;
    for (let m = 240; m < 1200; m++) sum += expectedMinuteVolumeShare(m);
    expect(sum).toBeCloseTo(1, 6);
  });
});
