// What the simulated upstream trades: a price and a volume per symbol and tick (from the caller,
// or a seeded random walk so a run can be reproduced), turned into the protocol's full `A` event
// with the day's running figures (op, av, a) the real server carries.

import { mulberry32 } from '../shared/prng.js';

export interface Trade {
  price: number;
  volume: number;
}

/** A price and volume for `symbol` at `nowMs`; undefined means no trade in this window (no event). */
export type PriceSource = (symbol: string, nowMs: number) => Trade | undefined;

/** The `A` event exactly as the protocol table lists its fields. */
export interface AggregateEvent {
  ev: 'A';
  sym: string;
  v: number;
  av: number;
  op: number;
  vw: number;
  o: number;
  c: number;
  h: number;
  l: number;
  a: number;
  z: number;
  s: number;
  e: number;
}

/** A stable hash of a symbol: each symbol's own seeded stream, whatever the order of calls. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A random walk per symbol, seeded by (seed, symbol): the same symbol walks the same path in
 * every run whatever the order symbols are asked in.
 */
export function randomWalkPriceSource(seed = 42): PriceSource {
  const walks = new Map<string, { rng: () => number; price: number }>();
  return (symbol) => {
    let w = walks.get(symbol);
    if (!w) {
      const rng = mulberry32((seed ^ fnv1a(symbol)) >>> 0);
      w = { rng, price: 5 + rng() * 295 };
      walks.set(symbol, w);
    }
    w.price = Math.max(0.01, w.price * (1 + (w.rng() - 0.5) * 0.004));
    return { price: w.price, volume: 100 * (1 + Math.floor(w.rng() * 50)) };
  };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** How many trades a window of `volume` shares holds (about 150 shares each): `z = v / trades`. */
export function tradeCount(volume: number): number {
  return Math.max(1, Math.ceil(volume / 150));
}

/** The day's state per symbol, so consecutive windows chain (o = previous c) and op/av/a accumulate. */
export class AggregateBook {
  private readonly day = new Map<string, { op: number; lastClose: number; av: number; pv: number }>();

  build(sym: string, s: number, e: number, trade: Trade): AggregateEvent | undefined {
    const { price, volume } = trade;
    if (!Number.isFinite(price) || price <= 0 || !Number.isFinite(volume) || volume < 0) return undefined;
    const c = round4(price);
    const v = Math.round(volume);
    let d = this.day.get(sym);
    if (!d) {
      d = { op: c, lastClose: c, av: 0, pv: 0 };
      this.day.set(sym, d);
    }
    const o = d.lastClose;
    // A window's extremes lie a little outside its open and close, as real seconds' do.
    const spread = Math.abs(c - o) * 0.25 + c * 0.0005;
    const h = round4(Math.max(o, c) + spread);
    const l = round4(Math.max(0.0001, Math.min(o, c) - spread));
    const vw = round4((o + c + h + l) / 4);
    d.lastClose = c;
    d.av += v;
    d.pv += vw * v;
    const a = d.av > 0 ? round4(d.pv / d.av) : vw;
    const trades = tradeCount(v);
    return { ev: 'A', sym, v, av: d.av, op: d.op, vw, o, c, h, l, a, z: Math.round(v / trades), s, e };
  }
}
