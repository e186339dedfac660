import { isValidSymbol } from '../upstream/codec.js';
import {
  PRE_MARKET_START,
  POST_MARKET_END,
  REGULAR_OPEN,
  expectedMinuteVolumeShare,
  isTradingDay,
  newYorkClock,
  sessionAt,
  sessionAtMinute,
  type MarketSession,
} from './market-session.js';
import type { MarketSnapshot, TickerSnapshot } from './market-snapshot.js';
import { createRandom, type Random } from '../shared/prng.js';

// A built-in market for demos and tests: a few thousand made-up stocks whose day looks like a real
// one, so every list of the scanner fills and moves. Each trading day some stocks gap in the
// pre-market (and then run further or fade back: reversals), news starts momentum runs (which
// make new highs and lows and draw volume), and volume bursts come and go (anomalies). It is
// a pure function of its seed and of the times it is asked at: a run can be reproduced.
//
// Two clocks: 'simulated' (default) keeps its own market time, `minutesPerTick` market minutes
// per snapshot, looping from 4:00 to 20:00 and on to the next day, so a demo at night still
// trades; 'clock' follows New York time and stands still while the real market is closed.

export interface SimulatedMarketOptions {
  seed: number;
  symbols: number;
  clock?: 'simulated' | 'clock';
  /** Market minutes per snapshot in the simulated clock. */
  minutesPerTick?: number;
  /** Minute of day (New York) the simulated clock starts at. */
  startMinute?: number;
}

export const SIMULATED_DEFAULTS = { minutesPerTick: 2, startMinute: 9 * 60 + 20 } as const;

/** Chance per stock and market minute that news starts a run, or a volume burst. */
const RUN_CHANCE = 0.0002;
const BURST_CHANCE = 0.0005;
const UP_GAPPERS = 0.025;
const DOWN_GAPPERS = 0.015;

interface Story {
  /** Log-return added per minute. */
  drift: number;
  /** Volume multiple while the story lasts. */
  volume: number;
  minutesLeft: number;
}

interface Stock {
  symbol: string;
  shares: number;
  avgVolume: number;
  sigmaDay: number;
  basePrice: number;
  prevClose: number;
  prevHigh: number;
  prevLow: number;
  prevVolume: number;
  price: number;
  /** Tonight's gap, as a log-return reached over the first pre-market hour. */
  gap: number;
  /** How much more than usual the stock trades today. */
  dayRvol: number;
  fate: 'none' | 'continue' | 'fade';
  fadeAt: number;
  dayOpen: number;
  dayHigh: number;
  dayLow: number;
  dayClose: number;
  dayVolume: number;
  vwapSum: number;
  volume: number;
  minute: { o: number; h: number; l: number; c: number; v: number; start: number } | null;
  story: Story | null;
}

const TIERS = [
  { share: 0.05, price: [40, 800], shares: [5e8, 1e10], volume: [5e6, 6e7], sigma: [0.008, 0.018] },
  { share: 0.2, price: [10, 150], shares: [1e8, 1e9], volume: [1e6, 1e7], sigma: [0.012, 0.025] },
  { share: 0.45, price: [2, 40], shares: [2e7, 2e8], volume: [2e5, 3e6], sigma: [0.02, 0.04] },
  { share: 0.3, price: [0.8, 8], shares: [5e6, 6e7], volume: [1e5, 2e6], sigma: [0.03, 0.07] },
] as const;

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function makeSymbols(rng: Random, n: number): string[] {
  const out = new Set<string>();
  while (out.size < n) {
    const r = rng.next();
    // Short names are few; when they run out the loop simply draws a longer one.
    const len = r < 0.01 ? 1 : r < 0.06 ? 2 : r < 0.4 ? 3 : r < 0.96 ? 4 : 5;
    let s = '';
    for (let i = 0; i < len; i++) s += LETTERS[rng.int(0, 26)];
    if (isValidSymbol(s)) out.add(s);
  }
  return [...out];
}

export class SimulatedMarket {
  private readonly rng: Random;
  private readonly stocks: Stock[];
  private readonly mode: 'simulated' | 'clock';
  private readonly minutesPerTick: number;
  /** Market minute the simulation has reached today (the next minute to simulate). */
  private minute: number;
  /** New York date the simulation is in (clock mode); null before the first snapshot. */
  private date: string | null = null;

  constructor(opts: SimulatedMarketOptions) {
    if (!Number.isInteger(opts.symbols) || opts.symbols < 1) throw new RangeError('symbols must be a positive integer');
    this.rng = createRandom(opts.seed);
    this.mode = opts.clock ?? 'simulated';
    this.minutesPerTick = Math.max(1, Math.round(opts.minutesPerTick ?? SIMULATED_DEFAULTS.minutesPerTick));
    this.stocks = makeSymbols(this.rng, opts.symbols).map((s) => this.makeStock(s));
    this.minute = PRE_MARKET_START;
    if (this.mode === 'simulated') {
      const start = Math.min(Math.max(opts.startMinute ?? SIMULATED_DEFAULTS.startMinute, PRE_MARKET_START), POST_MARKET_END - 1);
      this.startDay();
      this.runUntil(Math.floor(start));
    }
  }

  get symbols(): string[] {
    return this.stocks.map((s) => s.symbol);
  }

  /** The market at `nowMs`: the simulated clock advances one tick; the real clock catches up to now. */
  next(nowMs: number): MarketSnapshot {
    let session: MarketSession;
    let minuteOfDay: number;
    if (this.mode === 'simulated') {
      for (let i = 0; i < this.minutesPerTick; i++) {
        if (this.minute >= POST_MARKET_END) this.startDay();
        this.runUntil(this.minute + 1);
      }
      minuteOfDay = this.minute;
      session = sessionAtMinute(minuteOfDay - 1e-9);
    } else {
      const c = newYorkClock(nowMs);
      if (this.date === null) {
        // Start with a whole previous session behind us, so a closed market still shows a day.
        this.startDay();
        this.runUntil(POST_MARKET_END);
        this.date = '';
      }
      if (isTradingDay(c.weekday) && c.minuteOfDay >= PRE_MARKET_START && this.date !== c.date) {
        this.runUntil(POST_MARKET_END);
        this.startDay();
        this.date = c.date;
      }
      if (this.date === c.date) this.runUntil(Math.min(Math.floor(c.minuteOfDay), POST_MARKET_END));
      minuteOfDay = c.minuteOfDay;
      session = sessionAt(c);
    }
    return {
      source: 'simulated',
      takenAtMs: nowMs,
      session,
      minuteOfDay,
      tickers: this.stocks.map((s) => this.tickerOf(s)),
      rejected: 0,
    };
  }

  private makeStock(symbol: string): Stock {
    const rng = this.rng;
    const pick = rng.next();
    let acc = 0;
    let tier: (typeof TIERS)[number] = TIERS[TIERS.length - 1]!;
    for (const t of TIERS) {
      acc += t.share;
      if (pick < acc) {
        tier = t;
        break;
      }
    }
    const price = rng.logBetween(tier.price[0], tier.price[1]);
    const avgVolume = rng.logBetween(tier.volume[0], tier.volume[1]);
    const sigmaDay = rng.between(tier.sigma[0], tier.sigma[1]);
    return {
      symbol,
      shares: rng.logBetween(tier.shares[0], tier.shares[1]),
      avgVolume,
      sigmaDay,
      basePrice: price,
      prevClose: price,
      prevHigh: price * (1 + Math.abs(rng.gauss()) * sigmaDay * 0.6),
      prevLow: price * (1 - Math.abs(rng.gauss()) * sigmaDay * 0.6),
      prevVolume: avgVolume * rng.logBetween(0.7, 1.4),
      price,
      gap: 0,
      dayRvol: 1,
      fate: 'none',
      fadeAt: REGULAR_OPEN,
      dayOpen: 0,
      dayHigh: 0,
      dayLow: 0,
      dayClose: 0,
      dayVolume: 0,
      vwapSum: 0,
      volume: 0,
      minute: null,
      story: null,
    };
  }

  /** Close the books of the day that ended and set up the next one: gaps, fates, interest. */
  private startDay(): void {
    const rng = this.rng;
    for (const s of this.stocks) {
      if (s.dayOpen > 0) {
        s.prevClose = s.dayClose;
        s.prevHigh = s.dayHigh;
        s.prevLow = s.dayLow;
        s.prevVolume = s.volume;
      } else if (s.volume > 0) {
        s.prevClose = s.price;
        s.prevVolume = s.volume;
      }
      s.dayOpen = s.dayHigh = s.dayLow = s.dayClose = s.dayVolume = s.vwapSum = s.volume = 0;
      s.minute = null;
      s.story = null;
      // Overnight drift, pulled gently back to the stock's usual price so a long demo stays sane.
      let gap = rng.gauss() * s.sigmaDay * 0.25 + 0.1 * Math.log(s.basePrice / s.price);
      s.dayRvol = rng.logBetween(0.6, 1.6);
      s.fate = 'none';
      const r = rng.next();
      if (r < UP_GAPPERS + DOWN_GAPPERS) {
        const up = r < UP_GAPPERS;
        const size = 0.04 + Math.min(up ? 1.2 : 0.5, -Math.log(1 - rng.next()) * (up ? 0.1 : 0.06));
        gap = Math.log(up ? 1 + size : 1 - size);
        s.dayRvol = rng.logBetween(3, 25);
        const f = rng.next();
        s.fate = f < 0.3 ? 'continue' : f < 0.6 ? 'fade' : 'none';
        s.fadeAt = REGULAR_OPEN + rng.int(0, 60);
      }
      s.gap = gap + Math.log(s.prevClose / s.price);
    }
    this.minute = PRE_MARKET_START;
  }

  private runUntil(target: number): void {
    while (this.minute < target) {
      const m = this.minute;
      for (const s of this.stocks) this.step(s, m);
      this.minute++;
    }
  }

  /** One market minute of one stock. */
  private step(s: Stock, m: number): void {
    const rng = this.rng;
    const session = sessionAtMinute(m);
    if (session === 'CLOSED') return;
    const regular = session === 'MARKET_OPEN';
    let ret = (s.sigmaDay / Math.sqrt(390)) * (regular ? 1 : 0.3) * rng.gauss();
    let volume = s.dayRvol;

    if (m < PRE_MARKET_START + 60) ret += s.gap / 60;
    if (m === REGULAR_OPEN && s.fate === 'continue') {
      const minutes = rng.int(10, 40);
      s.story = { drift: (Math.sign(s.gap) * rng.between(0.03, 0.12)) / minutes, volume: rng.between(2, 5), minutesLeft: minutes };
    }
    if (m === s.fadeAt && s.fate === 'fade') {
      const minutes = rng.int(20, 90);
      s.story = { drift: (-s.gap * rng.between(0.75, 1.3)) / minutes, volume: rng.between(1.5, 3), minutesLeft: minutes };
    }
    if (!s.story) {
      const quiet = regular ? 1 : 0.3;
      if (rng.chance(RUN_CHANCE * quiet)) {
        const minutes = rng.int(5, 30);
        const dir = rng.chance(0.5) ? 1 : -1;
        s.story = { drift: (dir * rng.between(0.03, 0.15)) / minutes, volume: rng.between(5, 12), minutesLeft: minutes };
        s.dayRvol = Math.max(s.dayRvol, rng.between(1.5, 4)); // news keeps a stock in play all day
      } else if (rng.chance(BURST_CHANCE * quiet)) {
        s.story = { drift: 0, volume: rng.between(15, 40), minutesLeft: rng.int(1, 4) };
        ret += (rng.chance(0.5) ? 1 : -1) * rng.between(0.01, 0.04);
      }
    }
    if (s.story) {
      ret += s.story.drift;
      volume *= s.story.volume;
      if (--s.story.minutesLeft <= 0) s.story = null;
    }

    const open = s.price;
    const close = Math.max(0.05, open * Math.exp(ret));
    const wick = (s.sigmaDay / Math.sqrt(390)) * 0.3;
    const high = Math.max(open, close) * (1 + Math.abs(rng.gauss()) * wick);
    const low = Math.min(open, close) * (1 - Math.abs(rng.gauss()) * wick);
    const v = Math.round(s.avgVolume * expectedMinuteVolumeShare(m) * volume * Math.exp(0.5 * rng.gauss() - 0.125));
    s.price = close;
    s.minute = { o: open, h: high, l: low, c: close, v, start: m };
    s.volume += v;
    if (regular) {
      if (s.dayOpen === 0) {
        s.dayOpen = open;
        s.dayHigh = high;
        s.dayLow = low;
      }
      s.dayHigh = Math.max(s.dayHigh, high);
      s.dayLow = Math.min(s.dayLow, low);
      s.dayClose = close;
      s.dayVolume += v;
      s.vwapSum += v * ((high + low + close) / 3);
    }
  }

  private tickerOf(s: Stock): TickerSnapshot {
    const hasDay = s.dayOpen > 0;
    return {
      symbol: s.symbol,
      price: s.price,
      prevClose: s.prevClose,
      prevHigh: s.prevHigh,
      prevLow: s.prevLow,
      prevVolume: Math.round(s.prevVolume),
      day: hasDay
        ? {
            open: s.dayOpen,
            high: s.dayHigh,
            low: s.dayLow,
            close: s.dayClose,
            volume: s.dayVolume,
            vwap: s.dayVolume > 0 ? s.vwapSum / s.dayVolume : s.dayClose,
          }
        : null,
      minute: s.minute
        ? {
            open: s.minute.o,
            high: s.minute.h,
            low: s.minute.l,
            close: s.minute.c,
            volume: s.minute.v,
            vwap: (s.minute.h + s.minute.l + s.minute.c) / 3,
            accumulatedVolume: s.volume,
            startMs: null,
          }
        : null,
      volume: s.volume,
      avgVolume: Math.round(s.avgVolume),
      marketCap: s.shares * s.price,
    };
  }
}
