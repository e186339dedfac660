// The simulator's data events besides the per-second `A` aggregate (aggregate-source.ts): `AM`
// minute aggregates, `T` trades, `Q` quotes, `LULD` price bands and `NOI` imbalances, each with
// every field the official JS client's types declare (IAggregateStockEvent, ITradeStockEvent,
// IQuoteStockEvent, ILULDStockEvent, INOIStockEvent in @massive.com/client-js) and the value types
// of the provider's own WebSocket spec. Where the two disagree (the client declares T's `x` a
// string and `i` a number, Q's `bx`/`ax` strings, LULD's `i` a number; the spec and its examples
// say integer exchange ids, a string trade id and an array of indicators), the spec wins: the
// simulator imitates the server, and the client's types are never checked at run time.
//
// All of them are derived from the same second windows the `A` stream is built from, so the
// channels of one symbol tell one story: a second's trades sum to its `v`, its quote brackets its
// close, a minute folds its seconds.

import { fnv1a, tradeCount, type AggregateEvent } from './aggregate-source.js';

/** The channel prefixes the simulator acknowledges and produces data for. */
export const CHANNEL_PREFIXES = ['A', 'AM', 'T', 'Q', 'LULD', 'NOI'] as const;
export type ChannelPrefix = (typeof CHANNEL_PREFIXES)[number];

export function isChannelPrefix(p: string): p is ChannelPrefix {
  return (CHANNEL_PREFIXES as readonly string[]).includes(p);
}

/** `AM`: the fields of `A`, for a minute. */
export type MinuteAggregateEvent = Omit<AggregateEvent, 'ev'> & { ev: 'AM' };

/** `T`, as the provider's spec lists it (x: exchange id, i: trade id, z: tape, q: sequence). */
export interface TradeEvent {
  ev: 'T';
  sym: string;
  x: number;
  i: string;
  z: number;
  p: number;
  s: number;
  c: number[];
  t: number;
  q: number;
}

/** `Q` (NBBO), as the provider's spec lists it; sizes in round lots. */
export interface QuoteEvent {
  ev: 'Q';
  sym: string;
  bx: number;
  bp: number;
  bs: number;
  ax: number;
  ap: number;
  as: number;
  c: number;
  i: number[];
  t: number;
  q: number;
  z: number;
}

/** `LULD`: the limit-up / limit-down band. Note the ticker is `T`, not `sym`. */
export interface LuldEvent {
  ev: 'LULD';
  T: string;
  h: number;
  l: number;
  i: number[];
  z: number;
  t: number;
  q: number;
}

/** `NOI`: an auction imbalance. `at` is the auction time as hhmm Eastern, `a` its type. */
export interface ImbalanceEvent {
  ev: 'NOI';
  T: string;
  t: number;
  at: number;
  a: string;
  i: number;
  x: number;
  o: number;
  p: number;
  b: number;
}

export type DataEvent = AggregateEvent | MinuteAggregateEvent | TradeEvent | QuoteEvent | LuldEvent | ImbalanceEvent;

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** A symbol's tape (1 NYSE, 2 NYSE American, 3 Nasdaq): fixed per symbol, as a listing is. */
export function tapeOf(sym: string): number {
  return 1 + (fnv1a(sym) % 3);
}

/** The listing exchange's id in the provider's exchange table, from the tape. */
function listingExchangeOf(sym: string): number {
  return [10, 1, 12][tapeOf(sym) - 1] ?? 12;
}

/** Ids from the provider's table of stock exchanges (NYSE, Arca, Nasdaq, Cboe, IEX, the TRF...). */
const EXCHANGE_IDS = [1, 2, 3, 4, 7, 8, 10, 11, 12, 15, 17, 18, 19] as const;
/** Trade condition 37: odd lot (fewer than 100 shares). */
const ODD_LOT = 37;
/** The indicator the provider's spec example of an `LULD` event carries. */
const LULD_INDICATOR = 21;

/** Per-symbol sequence numbers and trade ids: increasing and unique per symbol, as the spec says. */
export class Sequencer {
  private readonly seq = new Map<string, number>();

  next(sym: string): number {
    const n = (this.seq.get(sym) ?? 0) + 1;
    this.seq.set(sym, n);
    return n;
  }
}

/**
 * The trades of one window, consistent with its `A` event: as many as the aggregate's average
 * trade size implies, sizes summing to its `v`, the first at `o`, the last at `c`, every price
 * within [l, h], timestamps strictly inside [s, e).
 */
export function buildTrades(agg: AggregateEvent, rng: () => number, seq: Sequencer): TradeEvent[] {
  const n = tradeCount(agg.v);
  const z = tapeOf(agg.sym);
  const out: TradeEvent[] = [];
  const base = Math.floor(agg.v / n);
  let rest = agg.v - base * n;
  const span = agg.e - agg.s;
  for (let k = 0; k < n; k++) {
    const size = base + (rest > 0 ? 1 : 0);
    if (rest > 0) rest--;
    let p: number;
    if (k === n - 1) p = agg.c;
    else if (k === 0) p = agg.o;
    else if (k === 1) p = agg.h;
    else if (k === 2) p = agg.l;
    else p = round4(agg.o + ((agg.c - agg.o) * k) / (n - 1));
    const q = seq.next(agg.sym);
    out.push({
      ev: 'T',
      sym: agg.sym,
      x: EXCHANGE_IDS[Math.floor(rng() * EXCHANGE_IDS.length)] ?? 12,
      i: String(q),
      z,
      p,
      s: size,
      c: size < 100 ? [ODD_LOT] : [],
      t: agg.s + Math.min(span - 1, Math.floor(((k + 1) * span) / (n + 1))),
      q,
    });
  }
  return out;
}

/** The NBBO at the end of a window: a narrow spread around its close, sizes in round lots. */
export function buildQuote(agg: AggregateEvent, rng: () => number, seq: Sequencer): QuoteEvent {
  const half = Math.max(0.005, agg.c * 0.00025);
  const pick = () => EXCHANGE_IDS[Math.floor(rng() * EXCHANGE_IDS.length)] ?? 12;
  return {
    ev: 'Q',
    sym: agg.sym,
    bx: pick(),
    bp: round4(Math.max(0.0001, agg.c - half)),
    bs: 1 + Math.floor(rng() * 20),
    ax: pick(),
    ap: round4(agg.c + half),
    as: 1 + Math.floor(rng() * 20),
    c: 0,
    i: [],
    t: agg.e - 1,
    q: seq.next(agg.sym),
    z: tapeOf(agg.sym),
  };
}

/**
 * The LULD band around a reference price (the tier-1 percentages: 5% above $3, 20% down to
 * $0.75, below that the lesser of $0.15 and 75%).
 */
export function buildLuld(sym: string, reference: number, t: number, seq: Sequencer): LuldEvent {
  const width = reference > 3 ? reference * 0.05 : reference >= 0.75 ? reference * 0.2 : Math.min(0.15, reference * 0.75);
  return {
    ev: 'LULD',
    T: sym,
    h: round2(reference + width),
    l: Math.max(0.01, round2(reference - width)),
    i: [LULD_INDICATOR],
    z: tapeOf(sym),
    t,
    q: seq.next(sym),
  };
}

/** The next auction as (hhmm Eastern, type): the core open before 9:30, else the close. */
export function nextAuction(atMs: number): { at: number; a: string } {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    }).formatToParts(new Date(atMs));
    const hour = Number(parts.find((p) => p.type === 'hour')?.value);
    const minute = Number(parts.find((p) => p.type === 'minute')?.value);
    if (Number.isFinite(hour) && Number.isFinite(minute) && hour * 100 + minute < 930) return { at: 930, a: 'M' };
  } catch {
    // No time-zone data: the closing auction is as good a guess as any.
  }
  return { at: 1600, a: 'C' };
}

/** An imbalance for the next auction, sized on the minute's volume, priced near its close. */
export function buildImbalance(minute: MinuteAggregateEvent, rng: () => number, seq: Sequencer): ImbalanceEvent {
  const { at, a } = nextAuction(minute.e);
  return {
    ev: 'NOI',
    T: minute.sym,
    t: minute.e - 1,
    at,
    a,
    i: seq.next(minute.sym),
    x: listingExchangeOf(minute.sym),
    o: Math.max(1, Math.round(minute.v * (0.05 + rng() * 0.25))),
    p: Math.max(1, Math.round(minute.v * (0.5 + rng() * 0.5))),
    b: round2(minute.c * (1 + (rng() - 0.5) * 0.004)),
  };
}

/**
 * Folds a symbol's second windows into its minute: o of the first, c of the last, the extremes,
 * the summed volume, the volume-weighted vw, and the day's figures (av, op, a) as of the last.
 */
export class MinuteFold {
  private readonly bySymbol = new Map<string, { first: AggregateEvent; last: AggregateEvent; h: number; l: number; v: number; pv: number; trades: number }>();

  add(agg: AggregateEvent): void {
    const m = this.bySymbol.get(agg.sym);
    if (!m) {
      this.bySymbol.set(agg.sym, { first: agg, last: agg, h: agg.h, l: agg.l, v: agg.v, pv: agg.vw * agg.v, trades: tradeCount(agg.v) });
      return;
    }
    m.last = agg;
    m.h = Math.max(m.h, agg.h);
    m.l = Math.min(m.l, agg.l);
    m.v += agg.v;
    m.pv += agg.vw * agg.v;
    m.trades += tradeCount(agg.v);
  }

  get size(): number {
    return this.bySymbol.size;
  }

  /** The `AM` event of every symbol that traded in [s, e), and a fresh start. */
  drain(s: number, e: number): Map<string, MinuteAggregateEvent> {
    const out = new Map<string, MinuteAggregateEvent>();
    for (const [sym, m] of this.bySymbol) {
      out.set(sym, {
        ev: 'AM',
        sym,
        v: m.v,
        av: m.last.av,
        op: m.last.op,
        vw: m.v > 0 ? round4(m.pv / m.v) : m.last.vw,
        o: m.first.o,
        c: m.last.c,
        h: m.h,
        l: m.l,
        a: m.last.a,
        z: Math.round(m.v / Math.max(1, m.trades)),
        s,
        e,
      });
    }
    this.bySymbol.clear();
    return out;
  }
}
