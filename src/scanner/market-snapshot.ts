import { isValidSymbol } from '../upstream/codec.js';
import { newYorkClock, sessionAt, type MarketSession } from './market-session.js';

// The one shape every market source returns, validated, and the parser that turns Polygon's
// full-market snapshot (GET /v2/snapshot/locale/us/markets/stocks/tickers) into it.
//
// Polygon's response: {"status":"OK","count":N,"tickers":[{"ticker":"AAPL","todaysChange":…,
// "todaysChangePerc":…,"updated":<ns>,"day":{o,h,l,c,v,vw},"lastTrade":{p,s,t,x,i,c},
// "lastQuote":{p,s,P,S,t},"min":{av,t,n,o,h,l,c,v,vw},"prevDay":{o,h,l,c,v,vw}}]}.
// Before the regular session every `day` value is 0 (pre-market trades move lastTrade, min and
// todaysChange only); after the 3:30 AM reset everything but prevDay is 0. Plans without trades
// have no lastTrade. Each ticker is checked on its own: a malformed one is dropped and counted;
// a body that is not a snapshot at all, or mostly malformed, is refused whole. Tickers are
// case-sensitive (`AMpB` is a preferred, `BRK.B` a class): kept exactly as the provider spells them.

export interface Bar {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** Volume-weighted average price; 0 when the source does not say. */
  vwap: number;
}

export interface MinuteBar extends Bar {
  /** The day's volume up to and including this minute (Polygon's `min.av`); 0 when unknown. */
  accumulatedVolume: number;
  /** Start of the minute, Unix ms; null when unknown. */
  startMs: number | null;
}

export interface TickerSnapshot {
  symbol: string;
  /** Last trade price (pre- and post-market included). */
  price: number;
  /** Previous regular session's close. */
  prevClose: number;
  prevHigh: number | null;
  prevLow: number | null;
  prevVolume: number;
  /** Today's regular-session bar; null before the first regular-session trade. */
  day: Bar | null;
  /** The latest minute bar, if recent; null when none or stale. */
  minute: MinuteBar | null;
  /** Today's volume so far, pre-market included. */
  volume: number;
  /** A typical day's volume when the source knows it; else relative volume uses prevVolume. */
  avgVolume: number | null;
  /** Shares outstanding × price when the source knows it. */
  marketCap: number | null;
}

export interface MarketSnapshot {
  source: 'polygon' | 'simulated';
  /** When the snapshot was taken, Unix ms (wall clock). */
  takenAtMs: number;
  session: MarketSession;
  /** The market's clock, minutes since midnight New York time (the simulated market keeps its own). */
  minuteOfDay: number;
  tickers: TickerSnapshot[];
  /** Entries the source sent that were malformed and dropped (0 for the simulated market). */
  rejected: number;
}

/** Anything that can produce a market snapshot: the Polygon REST endpoint or the simulated market. */
export interface MarketSource {
  readonly name: 'polygon' | 'simulated';
  fetch(signal: AbortSignal): Promise<MarketSnapshot>;
}

export class SnapshotFormatError extends Error {
  constructor(reason: string) {
    super(`market snapshot refused: ${reason}`);
    this.name = 'SnapshotFormatError';
  }
}

/** A minute bar older than this, relative to the newest minute in the snapshot, is stale. */
export const STALE_MINUTE_MS = 5 * 60_000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Malformed extends Error {}

/** A number field: absent/null → 0; present but not a finite non-negative number → malformed. */
function field(o: Obj | undefined, key: string): number {
  if (!o) return 0;
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Malformed(key);
  return v;
}

/** An optional sub-object: absent/null → undefined; present but not an object → malformed. */
function block(o: Obj, key: string): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new Malformed(key);
  return v;
}

/** Polygon mixes ms and ns timestamps; normalise to ms. */
function toMs(t: number): number | null {
  if (t <= 0) return null;
  if (t > 1e17) return Math.floor(t / 1e6); // nanoseconds
  if (t > 1e14) return Math.floor(t / 1e3); // microseconds
  return t;
}

type Parsed = { kind: 'ok'; ticker: TickerSnapshot } | { kind: 'skip' } | { kind: 'bad' };

function parseTicker(raw: unknown): Parsed {
  if (!isObj(raw) || !isValidSymbol(raw.ticker)) return { kind: 'bad' };
  try {
    const day = block(raw, 'day');
    const prev = block(raw, 'prevDay');
    const min = block(raw, 'min');
    const last = block(raw, 'lastTrade');

    const prevClose = field(prev, 'c');
    const lastPrice = field(last, 'p');
    const d = { o: field(day, 'o'), h: field(day, 'h'), l: field(day, 'l'), c: field(day, 'c'), v: field(day, 'v'), vw: field(day, 'vw') };
    const m = {
      o: field(min, 'o'), h: field(min, 'h'), l: field(min, 'l'), c: field(min, 'c'),
      v: field(min, 'v'), vw: field(min, 'vw'), av: field(min, 'av'), t: field(min, 't'),
    };
    // Not malformed, just nothing to rank: a new listing without a previous close, or a
    // ticker that has not traded since the 3:30 AM reset.
    const price = lastPrice > 0 ? lastPrice : m.c > 0 ? m.c : d.c > 0 ? d.c : 0;
    if (prevClose <= 0 || price <= 0) return { kind: 'skip' };

    const hasDay = d.o > 0 && d.h > 0 && d.l > 0 && d.c > 0;
    const hasMinute = m.o > 0 && m.c > 0 && m.h > 0 && m.l > 0;
    const prevHigh = field(prev, 'h');
    const prevLow = field(prev, 'l');
    return {
      kind: 'ok',
      ticker: {
        symbol: raw.ticker,
        price,
        prevClose,
        prevHigh: prevHigh > 0 ? prevHigh : null,
        prevLow: prevLow > 0 ? prevLow : null,
        prevVolume: field(prev, 'v'),
        day: hasDay ? { open: d.o, high: d.h, low: d.l, close: d.c, volume: d.v, vwap: d.vw } : null,
        minute: hasMinute
          ? { open: m.o, high: m.h, low: m.l, close: m.c, volume: m.v, vwap: m.vw, accumulatedVolume: m.av, startMs: toMs(m.t) }
          : null,
        volume: Math.max(d.v, m.av),
        avgVolume: null,
        marketCap: null,
      },
    };
  } catch (err) {
    if (err instanceof Malformed) return { kind: 'bad' };
    throw err;
  }
}

/**
 * Validate Polygon's full-market snapshot body (already JSON-parsed). Throws SnapshotFormatError
 * when the body is not a snapshot, or when more than half of its entries are malformed.
 */
export function parsePolygonSnapshot(body: unknown, takenAtMs: number): MarketSnapshot {
  if (!isObj(body)) throw new SnapshotFormatError('body is not a JSON object');
  if (typeof body.status === 'string' && body.status !== 'OK' && body.status !== 'DELAYED') {
    const detail = typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : '';
    throw new SnapshotFormatError(`status ${body.status.slice(0, 40)}${detail ? `: ${detail.slice(0, 200)}` : ''}`);
  }
  if (!Array.isArray(body.tickers)) throw new SnapshotFormatError('no "tickers" array');

  const tickers: TickerSnapshot[] = [];
  const seen = new Set<string>();
  let bad = 0;
  for (const raw of body.tickers as unknown[]) {
    const p = parseTicker(raw);
    if (p.kind === 'bad') bad++;
    else if (p.kind === 'ok') {
      if (seen.has(p.ticker.symbol)) {
        bad++;
        continue;
      }
      seen.add(p.ticker.symbol);
      tickers.push(p.ticker);
    }
  }
  const total = body.tickers.length;
  if (total > 0 && bad * 2 > total) throw new SnapshotFormatError(`${bad} of ${total} entries malformed`);

  // Staleness is judged against the newest minute in the snapshot, not the wall clock, so a
  // 15-minute-delayed plan still has momentum.
  let newest = 0;
  for (const t of tickers) if (t.minute?.startMs && t.minute.startMs > newest) newest = t.minute.startMs;
  if (newest > 0) {
    for (const t of tickers) {
      if (t.minute && t.minute.startMs !== null && newest - t.minute.startMs > STALE_MINUTE_MS) t.minute = null;
    }
  }

  const clock = newYorkClock(takenAtMs);
  return {
    source: 'polygon',
    takenAtMs,
    session: sessionAt(clock),
    minuteOfDay: clock.minuteOfDay,
    tickers,
    rejected: bad,
  };
}
