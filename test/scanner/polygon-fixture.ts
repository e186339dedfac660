// Bodies shaped like Polygon's full-market snapshot (GET /v2/snapshot/locale/us/markets/stocks/tickers).

export interface PolygonTickerOptions {
  ticker: string;
  last?: number;
  prevClose?: number;
  /** Regular-session bar; omitted (all zeros) before the open. */
  day?: { o: number; h: number; l: number; c: number; v: number };
  minute?: { o: number; h: number; l: number; c: number; v: number; av: number; t: number };
}

export function polygonTicker(o: PolygonTickerOptions): Record<string, unknown> {
  const prevClose = o.prevClose ?? 10;
  const last = o.last ?? prevClose;
  const day = o.day ?? { o: 0, h: 0, l: 0, c: 0, v: 0 };
  return {
    ticker: o.ticker,
    todaysChange: last - prevClose,
    todaysChangePerc: ((last - prevClose) / prevClose) * 100,
    updated: 1_764_089_335_123_000_000,
    day: { ...day, vw: day.c },
    lastQuote: { P: last + 0.01, S: 2, p: last - 0.01, s: 3, t: 1_764_089_335_000_000_000 },
    lastTrade: { c: [14, 41], i: '71675577320245', p: last, s: 100, t: 1_764_089_335_000_000_000, x: 4 },
    min: o.minute ? { ...o.minute, n: 12, vw: o.minute.c } : { av: 0, t: 0, n: 0, o: 0, h: 0, l: 0, c: 0, v: 0, vw: 0 },
    prevDay: { o: prevClose, h: prevClose * 1.02, l: prevClose * 0.98, c: prevClose, v: 1_000_000, vw: prevClose },
  };
}

export function polygonBody(tickers: unknown[]): Record<string, unknown> {
  return { status: 'OK', count: tickers.length, tickers };
}

/** A plausible full market of `n` tickers, for parse benchmarks and source tests. */
export function polygonMarket(n: number): Record<string, unknown> {
  const tickers: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const sym = `T${i.toString(36).toUpperCase()}`;
    const pc = 5 + (i % 200);
    const last = pc * (1 + (((i * 7919) % 200) - 100) / 1000);
    tickers.push(
      polygonTicker({
        ticker: sym,
        prevClose: pc,
        last,
        day: { o: pc, h: Math.max(pc, last) * 1.01, l: Math.min(pc, last) * 0.99, c: last, v: 50_000 + i * 10 },
        minute: { o: last * 0.999, h: last * 1.001, l: last * 0.998, c: last, v: 1_000 + i, av: 50_000 + i * 10, t: 1_764_089_280_000 },
      }),
    );
  }
  return polygonBody(tickers);
}

/**
 * The ticker of the provider's documented example response for this endpoint (its reference page
 * and its official Python client's test fixture), field for field: every block present.
 */
export function documentedTicker(): Record<string, unknown> {
  return {
    day: { c: 20.506, h: 20.64, l: 20.506, o: 20.64, v: 37216, vw: 20.616 },
    lastQuote: { P: 20.6, S: 22, p: 20.5, s: 13, t: 1605192959994246100 },
    lastTrade: { c: [14, 41], i: '71675577320245', p: 20.506, s: 2416, t: 1605192894630916600, x: 4 },
    min: { av: 37216, c: 20.506, h: 20.506, l: 20.506, o: 20.506, v: 5000, vw: 20.5105, t: 1684428600000, n: 5 },
    prevDay: { c: 20.63, h: 21, l: 20.5, o: 20.79, v: 292738, vw: 20.6939 },
    ticker: 'BCAT',
    todaysChange: -0.124,
    todaysChangePerc: -0.601,
    updated: 1605192894630916600,
  };
}

/** 2025-11-25 08:30 New York: pre-market, when `providerPreMarketBody` is taken. */
export const PRE_MARKET_AT = Date.parse('2025-11-25T13:30:00Z');

/**
 * A full-market body shaped like the documented example, taken before the open, holding what a
 * real one holds besides common stock: preferreds with their lower-case `p` (`AMpB`, `BCpC`) and
 * a class after a dot (`BRK.B`); `day` an empty object (no regular-session trade yet, as the
 * provider sends it before the open); a new listing with no `prevDay`; a ticker with no
 * `lastTrade` (priced from its minute bar). Symbols are case-sensitive: each is spelled exactly.
 */
export function providerPreMarketBody(): Record<string, unknown> {
  const minuteT = PRE_MARKET_AT - 60_000;
  const tradeT = (PRE_MARKET_AT - 5_000) * 1e6; // ns, as the provider sends it
  const preMarket = (ticker: string, prevClose: number, last: number, av: number, opts: { lastTrade?: boolean; prevDay?: boolean } = {}) => {
    const t: Record<string, unknown> = {
      day: {},
      lastQuote: { P: last + 0.02, S: 3, p: last - 0.02, s: 5, t: tradeT + 1_000 },
      lastTrade: { c: [12, 37], i: '52983525029461', p: last, s: 100, t: tradeT, x: 11 },
      min: { av, c: last, h: last * 1.002, l: last * 0.998, o: last * 0.999, v: Math.round(av / 20), vw: last, t: minuteT, n: 14 },
      prevDay: { c: prevClose, h: prevClose * 1.01, l: prevClose * 0.99, o: prevClose * 1.003, v: av * 20, vw: prevClose },
      ticker,
      todaysChange: Math.round((last - prevClose) * 1e4) / 1e4,
      todaysChangePerc: Math.round(((last - prevClose) / prevClose) * 1e5) / 1e3,
      updated: tradeT,
    };
    if (opts.lastTrade === false) delete t.lastTrade;
    if (opts.prevDay === false) {
      delete t.prevDay;
      t.todaysChange = 0;
      t.todaysChangePerc = 0;
    }
    return t;
  };
  return {
    status: 'OK',
    count: 7,
    tickers: [
      documentedTicker(),
      preMarket('AMpB', 20, 22, 60_000),
      preMarket('BCpC', 25, 23.5, 45_000, { lastTrade: false }),
      preMarket('BRK.B', 480, 500.5, 150_000),
      preMarket('AAPL', 200, 210, 2_000_000),
      // Listed today: nothing to compare with, so nothing to rank; not malformed either.
      preMarket('NEWCO', 12, 12, 80_000, { prevDay: false }),
      // Not traded since the 3:30 AM reset: nothing but the previous day's bar.
      { day: {}, min: {}, prevDay: { c: 10, h: 10.2, l: 9.9, o: 10, v: 50_000, vw: 10.05 }, ticker: 'ZVZZT', todaysChange: 0, todaysChangePerc: 0, updated: 0 },
    ],
  };
}
