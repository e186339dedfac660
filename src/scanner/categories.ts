import { CATEGORIES, type Category } from '../shared/redis-keys.js';
import { expectedMinuteVolumeShare, expectedVolumeFraction } from './market-session.js';
import type { MarketSnapshot, TickerSnapshot } from './market-snapshot.js';

// The eleven lists of the contract: what qualifies a stock for each, how the list is ordered and
// how long it may be. Every rule reads one snapshot and nothing else (no history), so a restart
// ranks exactly as a long-running scanner would.

/** One row of `scanner:category:{name}`: the contract's fields first, then context for traders. */
export interface CategoryRow {
  symbol: string;
  rank: number;
  price: number;
  change_percent: number;
  volume: number;
  rvol: number;
  market_cap: number | null;
  /** Opening gap vs the previous close (before the open: the pre-market move so far). */
  gap_percent: number;
  prev_close: number;
  day_high: number | null;
  day_low: number | null;
  /** The value this list is ranked by (its unit depends on the list; see CATEGORY_RULES). */
  score: number;
}

export interface CategoryRules {
  /** Every list ignores stocks below this price ($). */
  minPrice: number;
  /** … and with less volume than this today (shares). */
  minVolume: number;
  gapPercent: number;
  momentumMinutePercent: number;
  momentumMinRvol: number;
  movePercent: number;
  highVolumeMinRvol: number;
  /** How close (%) to the day's high/low counts as "at" it. */
  extremeProximityPercent: number;
  anomalyMinuteMultiple: number;
  anomalyPaceMultiple: number;
  reversalMinGapPercent: number;
  /** Share of the gap given back (0..1+) that makes a reversal. */
  reversalRetrace: number;
  /** Most rows each list keeps. */
  limits: Record<Category, number>;
}

export const DEFAULT_LIST_LIMIT = 20;

export const DEFAULT_RULES: CategoryRules = {
  minPrice: 1,
  minVolume: 20_000,
  gapPercent: 4,
  momentumMinutePercent: 0.5,
  momentumMinRvol: 1.5,
  movePercent: 3,
  highVolumeMinRvol: 2,
  extremeProximityPercent: 0.25,
  anomalyMinuteMultiple: 10,
  anomalyPaceMultiple: 4,
  reversalMinGapPercent: 3,
  reversalRetrace: 0.66,
  limits: Object.fromEntries(CATEGORIES.map((c) => [c, DEFAULT_LIST_LIMIT])) as Record<Category, number>,
};

/**
 * Overrides of the built-in rules, as an operator writes them (SCANNER_RULES, JSON): any of the
 * numeric rules, and `limits` per list or `limit` for every list. Unknown keys and non-positive
 * or non-finite numbers are refused with a message naming them.
 */
export function parseRuleOverrides(raw: unknown, base: CategoryRules = DEFAULT_RULES): CategoryRules {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('must be a JSON object');
  const out: CategoryRules = { ...base, limits: { ...base.limits } };
  const num = (key: string, v: unknown, integer = false): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && (!Number.isInteger(v) || v < 1 || v > 1_000))) {
      throw new Error(`"${key}" must be ${integer ? 'a whole number from 1 to 1000' : 'a finite number ≥ 0'}`);
    }
    return v;
  };
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    if (key === 'limit') {
      const n = num(key, v, true);
      for (const c of CATEGORIES) out.limits[c] = n;
    } else if (key === 'limits') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('"limits" must be an object of list → rows');
      for (const [list, n] of Object.entries(v as Record<string, unknown>)) {
        if (!(CATEGORIES as readonly string[]).includes(list)) throw new Error(`"limits.${list}" is not a list`);
        out.limits[list as Category] = num(`limits.${list}`, n, true);
      }
    } else if (key in base && key !== 'limits') {
      (out as unknown as Record<string, number>)[key] = num(key, v);
    } else {
      throw new Error(`"${key}" is not a rule (rules: ${Object.keys(base).filter((k) => k !== 'limits').join(', ')}, limit, limits)`);
    }
  }
  return out;
}

/** The filter every list applies first, in a trader's words. */
export function describeUniverse(rules: CategoryRules = DEFAULT_RULES): string {
  return `every list considers only stocks at $${rules.minPrice} or more that have traded at least ${rules.minVolume.toLocaleString('en-US')} shares today`;
}

/** One line per list, in a trader's words, with the numbers of `rules` (README and --help print these). */
export function describeRules(rules: CategoryRules = DEFAULT_RULES): Record<Category, string> {
  const r = rules;
  const top = (c: Category) => `top ${r.limits[c]}`;
  return {
    gappers_up: `opened (or, before the open, is trading) at least ${r.gapPercent}% above yesterday's close; biggest gap first, ${top('gappers_up')}`,
    gappers_down: `opened (or, before the open, is trading) at least ${r.gapPercent}% below yesterday's close; biggest gap first, ${top('gappers_down')}`,
    momentum_up: `up at least ${r.momentumMinutePercent}% within the current minute on relative volume ≥ ${r.momentumMinRvol}; fastest first, ${top('momentum_up')}`,
    momentum_down: `down at least ${r.momentumMinutePercent}% within the current minute on relative volume ≥ ${r.momentumMinRvol}; fastest first, ${top('momentum_down')}`,
    winners: `up at least ${r.movePercent}% on the day (last price vs yesterday's close); biggest gain first, ${top('winners')}`,
    losers: `down at least ${r.movePercent}% on the day (last price vs yesterday's close); biggest loss first, ${top('losers')}`,
    high_volume: `trading at least ${r.highVolumeMinRvol}× its normal volume for this time of day; most shares traded first, ${top('high_volume')}`,
    new_highs: `within ${r.extremeProximityPercent}% of today's high, and today's high is above yesterday's; furthest above yesterday's high first, ${top('new_highs')}`,
    new_lows: `within ${r.extremeProximityPercent}% of today's low, and today's low is below yesterday's; furthest below yesterday's low first, ${top('new_lows')}`,
    anomalies: `volume burst: this minute traded ≥ ${r.anomalyMinuteMultiple}× the stock's normal volume for a minute at this time of day, and ≥ ${r.anomalyPaceMultiple}× its own pace today; biggest burst first, ${top('anomalies')}`,
    reversals: `opened at least ${r.reversalMinGapPercent}% away from yesterday's close and has since given back ≥ ${Math.round(r.reversalRetrace * 100)}% of that gap; biggest turn first, ${top('reversals')}`,
  };
}

/** The common figures of one ticker, computed once per scan and shared by every rule. */
interface Figures {
  t: TickerSnapshot;
  change: number;
  gap: number;
  rvol: number;
  minuteChange: number | null;
  /** This minute's volume over a normal minute at this time of day. */
  minuteMultiple: number | null;
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
const roundPrice = (p: number) => round(p, p < 1 ? 4 : 2);

function figures(t: TickerSnapshot, snap: MarketSnapshot): Figures {
  const pc = t.prevClose;
  const change = ((t.price - pc) / pc) * 100;
  const gap = t.day ? ((t.day.open - pc) / pc) * 100 : change;
  const typicalDay = t.avgVolume ?? t.prevVolume;
  // A closed market's snapshot holds the last session whole: compare it with a whole day, and
  // ignore its last minute bars, which describe no current move.
  const closed = snap.session === 'CLOSED';
  const fraction = closed ? 1 : Math.max(expectedVolumeFraction(snap.minuteOfDay), 0.005);
  const expected = typicalDay * fraction;
  const rvol = expected > 0 ? t.volume / expected : 0;
  let minuteChange: number | null = null;
  let minuteMultiple: number | null = null;
  if (t.minute && !closed) {
    minuteChange = ((t.minute.close - t.minute.open) / t.minute.open) * 100;
    const share = expectedMinuteVolumeShare(snap.minuteOfDay);
    const typicalMinute = typicalDay * share;
    minuteMultiple = typicalMinute > 0 ? t.minute.volume / typicalMinute : null;
  }
  return { t, change, gap, rvol, minuteChange, minuteMultiple };
}

interface Rule {
  /** The ranking value when the stock qualifies, else null. Higher ranks first; ties by symbol. */
  score(f: Figures, r: CategoryRules): number | null;
}

const RULES: Record<Category, Rule> = {
  gappers_up: { score: (f, r) => (f.gap >= r.gapPercent ? f.gap : null) },
  gappers_down: { score: (f, r) => (f.gap <= -r.gapPercent ? -f.gap : null) },
  momentum_up: {
    score: (f, r) =>
      f.minuteChange !== null && f.minuteChange >= r.momentumMinutePercent && f.rvol >= r.momentumMinRvol ? f.minuteChange : null,
  },
  momentum_down: {
    score: (f, r) =>
      f.minuteChange !== null && f.minuteChange <= -r.momentumMinutePercent && f.rvol >= r.momentumMinRvol ? -f.minuteChange : null,
  },
  winners: { score: (f, r) => (f.change >= r.movePercent ? f.change : null) },
  losers: { score: (f, r) => (f.change <= -r.movePercent ? -f.change : null) },
  high_volume: { score: (f, r) => (f.rvol >= r.highVolumeMinRvol ? f.t.volume : null) },
  new_highs: {
    score: (f, r) => {
      const d = f.t.day;
      const ph = f.t.prevHigh;
      if (!d || ph === null || d.high <= ph) return null;
      if (f.t.price < d.high * (1 - r.extremeProximityPercent / 100)) return null;
      return ((f.t.price - ph) / ph) * 100;
    },
  },
  new_lows: {
    score: (f, r) => {
      const d = f.t.day;
      const pl = f.t.prevLow;
      if (!d || pl === null || d.low >= pl) return null;
      if (f.t.price > d.low * (1 + r.extremeProximityPercent / 100)) return null;
      return ((pl - f.t.price) / pl) * 100;
    },
  },
  anomalies: {
    // Against its own pace (relative volume) too, so a stock that is busy all day is not a burst.
    score: (f, r) =>
      f.minuteMultiple !== null &&
      f.minuteMultiple >= r.anomalyMinuteMultiple &&
      f.minuteMultiple >= r.anomalyPaceMultiple * Math.max(f.rvol, 1)
        ? f.minuteMultiple
        : null,
  },
  reversals: {
    score: (f, r) => {
      const d = f.t.day;
      if (!d || Math.abs(f.gap) < r.reversalMinGapPercent) return null;
      const gapSize = d.open - f.t.prevClose; // signed, never 0 here
      const givenBack = (d.open - f.t.price) / gapSize;
      if (givenBack < r.reversalRetrace) return null;
      return (Math.abs(d.open - f.t.price) / f.t.prevClose) * 100;
    },
  },
};

function toRow(f: Figures, rank: number, score: number): CategoryRow {
  const t = f.t;
  return {
    symbol: t.symbol,
    rank,
    price: roundPrice(t.price),
    change_percent: round(f.change, 2),
    volume: Math.round(t.volume),
    rvol: round(f.rvol, 2),
    market_cap: t.marketCap === null ? null : Math.round(t.marketCap),
    gap_percent: round(f.gap, 2),
    prev_close: roundPrice(t.prevClose),
    day_high: t.day ? roundPrice(t.day.high) : null,
    day_low: t.day ? roundPrice(t.day.low) : null,
    score: round(score, 2),
  };
}

export type CategoryLists = Record<Category, CategoryRow[]>;

/** Rank the market: every list of the contract, each ordered and cut to its limit. */
export function computeCategories(snap: MarketSnapshot, rules: CategoryRules = DEFAULT_RULES): CategoryLists {
  const universe: Figures[] = [];
  for (const t of snap.tickers) {
    if (t.price < rules.minPrice || t.volume < rules.minVolume) continue;
    const f = figures(t, snap);
    if (Number.isFinite(f.change) && Number.isFinite(f.gap) && Number.isFinite(f.rvol)) universe.push(f);
  }
  const out = {} as CategoryLists;
  for (const c of CATEGORIES) {
    const rule = RULES[c];
    const hits: { f: Figures; s: number }[] = [];
    for (const f of universe) {
      const s = rule.score(f, rules);
      if (s !== null && Number.isFinite(s)) hits.push({ f, s });
    }
    hits.sort((a, b) => b.s - a.s || (a.f.t.symbol < b.f.t.symbol ? -1 : a.f.t.symbol > b.f.t.symbol ? 1 : 0));
    const limit = Math.max(0, rules.limits[c]);
    out[c] = hits.slice(0, limit).map((h, i) => toRow(h.f, i + 1, h.s));
  }
  return out;
}
