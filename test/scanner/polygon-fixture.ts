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
