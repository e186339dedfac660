import { describe, expect, it } from 'vitest';
import { parsePolygonSnapshot, SnapshotFormatError, STALE_MINUTE_MS } from '../../src/scanner/market-snapshot.js';
import { polygonBody, polygonTicker } from './polygon-fixture.js';

// 2025-11-25 11:48:55 New York (EST): regular session.
const AT = Date.parse('2025-11-25T16:48:55Z');
const MINUTE = Date.parse('2025-11-25T16:48:00Z');

describe('parsePolygonSnapshot', () => {
  it('turns the full-market snapshot into tickers', () => {
    const snap = parsePolygonSnapshot(
      polygonBody([
        polygonTicker({
          ticker: 'AAPL',
          prevClose: 200,
          last: 210,
          day: { o: 205, h: 211, l: 204, c: 210, v: 3_000_000 },
          minute: { o: 209, h: 210.5, l: 208.8, c: 210, v: 40_000, av: 3_100_000, t: MINUTE },
        }),
      ]),
      AT,
    );
    expect(snap.source).toBe('polygon');
    expect(snap.session).toBe('MARKET_OPEN');
    expect(snap.minuteOfDay).toBeCloseTo(11 * 60 + 48 + 55 / 60);
    expect(snap.rejected).toBe(0);
    expect(snap.tickers).toEqual([
      {
        symbol: 'AAPL',
        price: 210,
        prevClose: 200,
        prevHigh: 204,
        prevLow: 196,
        prevVolume: 1_000_000,
        day: { open: 205, high: 211, low: 204, close: 210, volume: 3_000_000, vwap: 210 },
        minute: { open: 209, high: 210.5, low: 208.8, close: 210, volume: 40_000, vwap: 210, accumulatedVolume: 3_100_000, startMs: MINUTE },
        volume: 3_100_000,
        avgVolume: null,
        marketCap: null,
      },
    ]);
  });

  it('before the open: no day bar, price from the last trade, volume from the minute bar', () => {
    const pre = Date.parse('2025-11-25T12:30:00Z'); // 7:30 New York
    const snap = parsePolygonSnapshot(
      polygonBody([polygonTicker({ ticker: 'ICON', prevClose: 1, last: 1.4, minute: { o: 1.3, h: 1.41, l: 1.3, c: 1.4, v: 9_000, av: 700_000, t: pre - 60_000 } })]),
      pre,
    );
    expect(snap.session).toBe('PRE_MARKET');
    const t = snap.tickers[0]!;
    expect(t.day).toBeNull();
    expect(t.price).toBe(1.4);
    expect(t.volume).toBe(700_000);
  });

  it('falls back to the minute close when the plan has no last trade', () => {
    const raw = polygonTicker({ ticker: 'NVDA', prevClose: 100, minute: { o: 101, h: 102, l: 100, c: 101.5, v: 1, av: 10, t: MINUTE } });
    delete raw.lastTrade;
    const t = parsePolygonSnapshot(polygonBody([raw]), AT).tickers[0]!;
    expect(t.price).toBe(101.5);
  });

  it('normalises nanosecond minute starts and drops stale minute bars', () => {
    const fresh = polygonTicker({ ticker: 'A', minute: { o: 10, h: 10, l: 10, c: 10, v: 5, av: 5, t: MINUTE * 1e6 } });
    const stale = polygonTicker({ ticker: 'B', minute: { o: 10, h: 10, l: 10, c: 10, v: 5, av: 5, t: MINUTE - STALE_MINUTE_MS - 60_000 } });
    const snap = parsePolygonSnapshot(polygonBody([fresh, stale]), AT);
    expect(snap.tickers[0]!.minute?.startMs).toBe(MINUTE);
    expect(snap.tickers[1]!.minute).toBeNull();
  });

  it('skips, without counting as malformed, tickers with nothing to rank', () => {
    const noPrev = polygonTicker({ ticker: 'IPO', prevClose: 0, last: 5 });
    const reset = { ticker: 'ZZZ', day: { o: 0, h: 0, l: 0, c: 0, v: 0 }, min: {}, prevDay: { c: 4 }, lastTrade: { p: 0 } };
    const snap = parsePolygonSnapshot(polygonBody([noPrev, reset, polygonTicker({ ticker: 'OK' })]), AT);
    expect(snap.tickers.map((t) => t.symbol)).toEqual(['OK']);
    expect(snap.rejected).toBe(0);
  });

  it('drops and counts malformed entries, keeping the rest', () => {
    const snap = parsePolygonSnapshot(
      polygonBody([
        polygonTicker({ ticker: 'GOOD' }),
        polygonTicker({ ticker: 'ALSO' }),
        polygonTicker({ ticker: 'FINE' }),
        { ...polygonTicker({ ticker: 'BAD' }), day: { o: 'x' } },
        { ticker: 'lower case' },
        polygonTicker({ ticker: 'GOOD' }), // duplicate
      ]),
      AT,
    );
    expect(snap.tickers.map((t) => t.symbol)).toEqual(['GOOD', 'ALSO', 'FINE']);
    expect(snap.rejected).toBe(3);
  });

  it('refuses bodies that are not a snapshot', () => {
    for (const body of [null, [], 'OK', { status: 'OK' }, { status: 'OK', tickers: 'AAPL' }]) {
      expect(() => parsePolygonSnapshot(body, AT)).toThrow(SnapshotFormatError);
    }
    expect(() => parsePolygonSnapshot({ status: 'ERROR', error: 'Unknown API Key' }, AT)).toThrow(/status ERROR: Unknown API Key/);
    expect(() => parsePolygonSnapshot(polygonBody([1, 2, 3, polygonTicker({ ticker: 'X' })]), AT)).toThrow(/3 of 4 entries malformed/);
  });

  it('accepts an empty market (after the 3:30 AM reset, nothing has traded)', () => {
    const snap = parsePolygonSnapshot(polygonBody([]), AT);
    expect(snap.tickers).toEqual([]);
  });
});
