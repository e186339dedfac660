// How long one scan's pure work takes on a 10,000-symbol market, against the 10 s scan interval:
// ranking the 11 lists and planning the scan (deltas, SET, events), plus, for the real source,
// parsing Polygon's full-market JSON of the same size. Medians over 20 rounds, one run.
import { performance } from 'node:perf_hooks';
import { computeCategories, DEFAULT_RULES } from '../src/scanner/categories.js';
import { DEFAULT_SNAPSHOT_EVERY, memoryFromPersisted, planScan } from '../src/scanner/cycle-plan.js';
import { parsePolygonSnapshot, type MarketSnapshot, type TickerSnapshot } from '../src/scanner/market-snapshot.js';
import { SimulatedMarket } from '../src/scanner/simulated-market.js';

const SYMBOLS = 10_000;
const ROUNDS = 20;
const INTERVAL_MS = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time(fn: () => void): number {
  gc?.();
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** The same market as Polygon would send it. */
function asPolygonJson(snap: MarketSnapshot): string {
  const bar = (b: { open: number; high: number; low: number; close: number; volume: number; vwap: number } | null) =>
    b ? { o: b.open, h: b.high, l: b.low, c: b.close, v: b.volume, vw: b.vwap } : { o: 0, h: 0, l: 0, c: 0, v: 0, vw: 0 };
  const minuteStart = snap.takenAtMs - 60_000;
  const tickers = snap.tickers.map((t: TickerSnapshot) => ({
    ticker: t.symbol,
    todaysChange: t.price - t.prevClose,
    todaysChangePerc: ((t.price - t.prevClose) / t.prevClose) * 100,
    updated: snap.takenAtMs * 1e6,
    day: bar(t.day),
    lastQuote: { P: t.price + 0.01, S: 2, p: t.price - 0.01, s: 3, t: snap.takenAtMs * 1e6 },
    lastTrade: { c: [14, 41], i: '71675577320245', p: t.price, s: 100, t: snap.takenAtMs * 1e6, x: 4 },
    min: t.minute ? { ...bar(t.minute), av: t.volume, t: minuteStart, n: 10 } : { ...bar(null), av: 0, t: 0, n: 0 },
    prevDay: { o: t.prevClose, h: t.prevHigh ?? t.prevClose, l: t.prevLow ?? t.prevClose, c: t.prevClose, v: t.prevVolume, vw: t.prevClose },
  }));
  return JSON.stringify({ status: 'OK', count: tickers.length, tickers });
}

const market = new SimulatedMarket({ seed: 42, symbols: SYMBOLS, startMinute: 11 * 60 });
const snapshots: MarketSnapshot[] = [];
const simulate: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  let snap: MarketSnapshot | undefined;
  simulate.push(time(() => (snap = market.next(Date.parse('2025-11-25T16:00:00Z') + i * INTERVAL_MS))));
  snapshots.push(snap!);
}

// Warm-up, so the figures are those of a scanner that has been running.
for (const s of snapshots.slice(0, 3)) computeCategories(s);

const rank: number[] = [];
const scan: number[] = [];
let memory = memoryFromPersisted({ sequences: {}, active: [] });
let lastActive = 0;
for (const snap of snapshots) {
  rank.push(time(() => computeCategories(snap)));
  scan.push(
    time(() => {
      const plan = planScan(memory, snap, DEFAULT_RULES, { snapshotEvery: DEFAULT_SNAPSHOT_EVERY });
      memory = plan.next;
      lastActive = plan.active.length;
    }),
  );
}

const json = asPolygonJson(snapshots[0]!);
const parse: number[] = [];
for (let i = 0; i < ROUNDS; i++) parse.push(time(() => parsePolygonSnapshot(JSON.parse(json), Date.parse('2025-11-25T16:00:00Z'))));

const row = (name: string, xs: number[]) => {
  const m = median(xs);
  console.log(`${name.padEnd(44)} median ${m.toFixed(2).padStart(8)} ms   max ${Math.max(...xs).toFixed(2).padStart(8)} ms   ${((m / INTERVAL_MS) * 100).toFixed(3)}% of the 10 s interval`);
};
console.log(`scanner ranking, ${SYMBOLS} symbols, ${ROUNDS} rounds (regular session), node ${process.version}${gc ? ', gc between rounds' : ''}`);
row('rank: the 11 lists (computeCategories)', rank);
row('scan: rank + plan (deltas, SET, events)', scan);
row(`parse Polygon JSON (${(json.length / 1e6).toFixed(1)} MB) + validate`, parse);
row('simulated market: one tick (2 market minutes)', simulate);
console.log(`active tickers in the last scan: ${lastActive}`);
console.log(`ratio (scan median / interval): ${(median(scan) / INTERVAL_MS).toFixed(5)}`);
