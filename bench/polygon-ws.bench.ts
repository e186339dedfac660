// polygon-ws liveness, measured as a user would: polygon-ws runs as its own process
// (`main.js --role polygon-ws`, production defaults), a real redis-server, and the Polygon
// simulator on loopback, whose own record of what it acknowledged is the truth. Phases:
//  latency   scanner write → upstream subscribe, spaced and back to back;
//  scale     10,000 tickers: bootstrap and resubscribe after a drop, from auth_success;
//  storm     the seeds' storm (a 1008 every 20-30 s) held BENCH_STORM_S (default 180) seconds
//            (BENCH_STORM_SIZES, default 47,10000)
//            while a scanner replaces the SET atomically every 3-5 s, at 47 and at 10,000 tickers
//            with live aggregates: availability, longest dark spell, recovery after the storm;
//  limit     an unannounced limit of 5 control messages a second, 10,000 tickers: time to hold
//            the SET, closes, and that it stays held;
//  aggregates 10,000 aggregates a second for 20 s: every one stored exactly once;
//  heal      a lost event (SET changed, no stream entry) with RECONCILE_INTERVAL_MS=5000.
// Run: npm run bench -- polygon-ws   (BENCH_PHASES=storm,limit … to pick phases)
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../src/services/embedded-redis.js';
import { createRandom } from '../src/shared/prng.js';
import { ACTIVE_TICKERS_KEY, AGGREGATES_STREAM, SUBSCRIPTIONS_STREAM } from '../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator, type PolygonSimulatorOptions } from '../src/simulator/polygon-simulator.js';
import { GroundTruth } from './helpers/ground-truth.js';
import { startPolygonWsProcess, type PolygonWsProcess } from './helpers/polygon-ws-process.js';
import { ScannerWriter } from './helpers/scanner-writer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const median = (xs: number[]) => pct(xs, 50);
const f2 = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(2));
const f4 = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(4));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(2);
  }
}

interface Rig {
  redisServer: EmbeddedRedis;
  redis: Redis;
  sim: PolygonSimulator;
  truth: GroundTruth;
  scanner: ScannerWriter;
  pws: PolygonWsProcess;
  stop(): Promise<void>;
}

interface RigOptions {
  sim?: PolygonSimulatorOptions;
  /** The SET before polygon-ws starts: these symbols, or this many fresh ones. */
  initial?: number | Iterable<string>;
  env?: Record<string, string>;
  /** Prefix of the scanner's fresh symbols. */
  prefix?: string;
  /** Just before polygon-ws starts: listen to the simulator from its very first connection. */
  beforeStart?: (sim: PolygonSimulator) => void;
}

let rigs = 0;
async function rig(name: string, opts: RigOptions = {}): Promise<Rig> {
  const redisServer = await startEmbeddedRedis();
  const redis = new Redis(redisServer.url);
  const sim = await startPolygonSimulator({ aggregateIntervalMs: 0, ...opts.sim });
  const truth = new GroundTruth(sim);
  const scanner = new ScannerWriter(redis, opts.prefix ?? 'B', ++rigs);
  const initial = typeof opts.initial === 'number' ? scanner.fresh(opts.initial) : new Set(opts.initial ?? []);
  if (initial.size > 0) await scanner.write(initial);
  truth.setDesired(scanner.members());
  opts.beforeStart?.(sim);
  const logFile = `/tmp/livescan-bench-${name}.log`;
  const pws = await startPolygonWsProcess({ redisUrl: redisServer.url, wsUrl: sim.url, logFile, env: opts.env });
  // Events written before the consumer group exists are for the reconciler to heal, not the
  // event path: measure from the moment the group is there.
  for (let i = 0; ; i++) {
    const groups = (await redis.call('XINFO', 'GROUPS', SUBSCRIPTIONS_STREAM).catch(() => [])) as unknown[];
    if (groups.length > 0) break;
    if (i > 3_000) throw new Error('polygon-ws never created its consumer group');
    await sleep(10);
  }
  return {
    redisServer,
    redis,
    sim,
    truth,
    scanner,
    pws,
    async stop() {
      truth.stop();
      await pws.stop();
      await sim.close();
      redis.disconnect();
      await redisServer.stop();
    },
  };
}

async function write(r: Rig, next: Set<string>): Promise<number> {
  const at = await r.scanner.write(next);
  r.truth.setDesired(next);
  return at;
}

async function latency(): Promise<void> {
  // A SET of a scanner's size (11 lists of up to 30), so a write's removals hit older symbols.
  const r = await rig('latency', { initial: Array.from({ length: 300 }, (_, i) => `L${i}`), env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' } });
  await r.truth.whenFull(30_000);
  const acked = new Map<string, number>();
  // Both ends on this process's monotonic clock: the write's start, and the simulator's ack.
  r.sim.on('subscribed', (_c, symbols) => {
    const at = performance.now();
    symbols.forEach((s) => acked.set(s, at));
  });
  // From the write's start (as the scanner sees it) and from its commit (the MULTI answered).
  const measure = async (cycles: number, perBurst: number, gapMs: number, pauseMs: number) => {
    const fromStart: number[] = [];
    const fromCommit: number[] = [];
    for (let c = 0; c < cycles; c++) {
      const pending: [string[], number, number][] = [];
      for (let b = 0; b < perBurst; b++) {
        const next = r.scanner.churn(2);
        const added = [...next].filter((s) => !r.scanner.members().has(s));
        const t0 = performance.now();
        // The ground truth is not needed here: keep the measuring process's own work minimal.
        await r.scanner.write(next);
        pending.push([added, t0, performance.now()]);
        if (gapMs > 0) await sleep(gapMs);
      }
      // A later write of the burst may have removed a symbol again: only those still wanted count.
      const wanted = r.scanner.members();
      for (const [all, t0, t1] of pending) {
        const added = all.filter((s) => wanted.has(s));
        await until(() => added.every((s) => acked.has(s)), 10_000, 'acks');
        for (const s of added) {
          fromStart.push(Math.round(((acked.get(s) as number) - t0) * 10) / 10);
          fromCommit.push(Math.round(((acked.get(s) as number) - t1) * 10) / 10);
        }
      }
      await sleep(pauseMs);
    }
    return { fromStart, fromCommit };
  };
  const line = (name: string, m: { fromStart: number[]; fromCommit: number[] }) =>
    `         ${name}: ${m.fromStart.length} symbols; from the write's start p50 ${median(m.fromStart)} ms, p99 ${pct(m.fromStart, 99)} ms, max ${Math.max(...m.fromStart)} ms; from its commit p50 ${median(m.fromCommit)} ms, p99 ${pct(m.fromCommit, 99)} ms`;
  // polygon-ws's own share of it: stream entry written (its id's time) → verified hint in the
  // reconciler, from its histogram, per phase.
  const hintBuckets = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`${r.pws.httpUrl}/metrics`)).text();
    const out = new Map<string, number>();
    for (const m of text.matchAll(/^livescan_subscription_event_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) out.set(m[1] as string, Number(m[2]));
    return out;
  };
  const hintLine = (before: Map<string, number>, after: Map<string, number>) => {
    const d = (le: string) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
    const all = d('+Inf');
    const share = (le: string) => `${((100 * d(le)) / Math.max(1, all)).toFixed(1)} % ≤ ${Number(le) * 1000} ms`;
    return `         inside polygon-ws (entry written → verified hint), ${all} entries: ${share('0.0025')}, ${share('0.005')}, ${share('0.01')}`;
  };
  const h0 = await hintBuckets();
  const spaced = await measure(200, 1, 0, 200);
  const h1 = await hintBuckets();
  const b2b = await measure(40, 5, 2, 1_000);
  const h2 = await hintBuckets();
  console.log(`latency  scanner write (SET of 300 replaced, 2 added + 2 removed, events in the same MULTI) → upstream acknowledged the subscribe:`);
  console.log(line('spaced writes (200, 200 ms apart)', spaced));
  console.log(hintLine(h0, h1));
  console.log(line('back to back (5 writes 2 ms apart, 40 rounds)', b2b));
  console.log(hintLine(h1, h2));
  await r.stop();
}

async function scale(): Promise<void> {
  const n = 10_000;
  const boots: number[] = [];
  for (let round = 0; round < 3; round++) {
    let authAt = 0;
    const b = await rig(`boot${round}`, { initial: n, prefix: `S${round}X`, beforeStart: (sim) => sim.once('authenticated', () => (authAt = performance.now())) });
    await until(() => authAt > 0 && b.sim.acknowledged().size === n, 60_000, 'bootstrap');
    boots.push(Math.round(performance.now() - authAt));
    await b.stop();
  }
  const r = await rig('scale', { prefix: 'R' });
  await write(r, r.scanner.fresh(n));
  await r.truth.whenFull(60_000);
  const resub: number[] = [];
  const fromClose: number[] = [];
  for (let round = 0; round < 5; round++) {
    await sleep(6_000); // a connection that lived: the prompt return
    let authAt = 0;
    r.sim.once('authenticated', () => (authAt = performance.now()));
    const closedAt = performance.now();
    r.sim.close1008('all');
    await until(() => authAt > 0 && r.sim.acknowledged().size === n, 60_000, 'resubscribe');
    const done = performance.now();
    resub.push(Math.round(done - authAt));
    fromClose.push(Math.round(done - closedAt));
  }
  console.log(`scale    ${n} tickers, default settings:`);
  console.log(`         bootstrap, auth_success → all acknowledged: median ${median(boots)} ms (rounds ${boots.join(', ')})`);
  console.log(`         resubscribe after a 1008, auth_success → all acknowledged: median ${median(resub)} ms, max ${Math.max(...resub)} ms (rounds ${resub.join(', ')})`);
  console.log(`         the same from the close (reconnect wait included): median ${median(fromClose)} ms, max ${Math.max(...fromClose)} ms`);
  await r.stop();
}

async function storm(n: number): Promise<void> {
  const seconds = Number(process.env.BENCH_STORM_S ?? 180);
  const r = await rig(`storm${n}`, { sim: { aggregateIntervalMs: 1_000 }, prefix: `T${n}X` });
  await write(r, r.scanner.fresh(n));
  await r.truth.whenFull(60_000);
  await sleep(2_000);
  // The scanner: every 3-5 s about a tenth of the SET changes, atomically.
  const random = createRandom(n);
  let scanning = true;
  const scans = (async () => {
    while (scanning) {
      await sleep(random.int(3_000, 5_001));
      if (scanning) await write(r, r.scanner.churn(Math.max(1, Math.round(n / 10))));
    }
  })();
  const closes: number[] = [];
  const onClose = (_c: string, code: number) => code === 1008 && closes.push(performance.now());
  r.sim.on('closed', onClose);
  const closesBefore = r.sim.stats().scheduled1008Closes;
  r.truth.start();
  r.sim.setSchedule1008({ minMs: 20_000, maxMs: 30_000 });
  await sleep(seconds * 1_000);
  r.sim.setSchedule1008(null);
  const end = performance.now();
  const during = r.truth.figures();
  let recovered: number;
  try {
    await r.truth.whenFull(30_000);
    recovered = Math.max(0, (r.truth.lastFullAt() ?? end) - end);
  } catch {
    recovered = NaN;
  }
  // Recovery from each close to full coverage again.
  const stormCloses = r.sim.stats().scheduled1008Closes - closesBefore;
  await sleep(5_000);
  scanning = false;
  await scans;
  r.sim.off('closed', onClose);
  const after = r.truth.figures();
  const stats = await r.pws.stats();
  console.log(`storm    ${n} tickers, a bare 1008 every 20-30 s for ${seconds} s, the SET replaced every 3-5 s (${Math.round(n / 10)} changes), live aggregates:`);
  console.log(`         scheduled closes ${stormCloses}; upstream truth: availability ${f4(during.availability)}, mean share served ${f4(during.meanShare)}, longest dark spell ${f2(during.longestDarkSeconds)} s`);
  console.log(`         storm end → whole SET served: ${Number.isNaN(recovered) ? 'not within 30 s' : `${Math.round(recovered)} ms`}; over the whole run incl. 5 s after: availability ${f4(after.availability)}`);
  console.log(`         polygon-ws's own view: availability ${f4(stats.availability as number)}, longest dark ${f2(stats.longest_dark_seconds as number)} s, closes by cause ${JSON.stringify(Object.fromEntries(Object.entries(stats.closes_by_cause as Record<string, number>).filter(([, v]) => v > 0)))}, rate factor ${(stats.flow as { rate_factor: number }).rate_factor}`);
  await r.stop();
}

async function limit(): Promise<void> {
  const n = 10_000;
  let t0 = 0;
  const r = await rig('limit', { sim: { maxMessagesPerSecond: 5 }, initial: n, prefix: 'U', beforeStart: () => (t0 = performance.now()) });
  const closes = () => Object.values(r.sim.stats().closesByCode).reduce((a, b) => a + b, 0);
  let held = NaN;
  try {
    await r.truth.whenFull(60_000);
    held = (r.truth.lastFullAt() ?? performance.now()) - t0;
  } catch {
    /* reported below */
  }
  const closesToHold = closes();
  r.truth.start();
  await sleep(60_000);
  const watch = r.truth.figures();
  const stats = await r.pws.stats();
  console.log(`limit    ${n} tickers, an unannounced limit of 5 subscribe/unsubscribe messages a second (bare 1008 for a violator):`);
  console.log(`         start → whole SET held: ${Number.isNaN(held) ? 'not within 60 s' : `${(held / 1000).toFixed(1)} s`}, with ${closesToHold} closes (simulator flood closes ${r.sim.stats().floodCloses})`);
  console.log(`         the next 60 s: availability ${f4(watch.availability)}, closes ${closes() - closesToHold}; rate factor now ${(stats.flow as { rate_factor: number }).rate_factor}, closes by cause ${JSON.stringify(Object.fromEntries(Object.entries(stats.closes_by_cause as Record<string, number>).filter(([, v]) => v > 0)))}`);
  await r.stop();
}

async function aggregates(): Promise<void> {
  const n = 10_000;
  const r = await rig('aggregates', { sim: { aggregateIntervalMs: 1_000 }, env: { AGGREGATES_MAXLEN: '10000000' }, prefix: 'G' });
  await write(r, r.scanner.fresh(n));
  await r.truth.whenFull(60_000);
  await sleep(1_500);
  await r.redis.del(AGGREGATES_STREAM);
  const sentBefore = r.sim.stats().aggregatesSent;
  await sleep(20_000);
  // Stop the data, let what is in flight land, then compare what was sent with what was stored.
  r.sim.setSilent(true);
  await sleep(3_000);
  const sent = r.sim.stats().aggregatesSent - sentBefore;
  const perWindow = new Map<number, number>();
  const seen = new Set<string>();
  let total = 0;
  let dupes = 0;
  let cursor = '-';
  for (;;) {
    const page = await r.redis.xrange(AGGREGATES_STREAM, cursor, '+', 'COUNT', 20_000);
    if (page.length === 0) break;
    for (const [id, fields] of page) {
      const data = JSON.parse(fields[1] as string) as { sym: string; e: number };
      const key = `${data.sym}@${data.e}`;
      if (seen.has(key)) dupes++;
      seen.add(key);
      perWindow.set(data.e, (perWindow.get(data.e) ?? 0) + 1);
      total++;
      cursor = `(${id}`;
    }
  }
  // The first window may have been half-published when the stream was cut: the others are whole.
  const windows = [...perWindow.entries()].sort((a, b) => a[0] - b[0]).slice(1);
  const whole = windows.filter(([, n]) => n === n0(windows)).length;
  console.log(
    `aggregates ${n} symbols a second for 20 s: the simulator sent ${sent}, the stream holds ${total} (${dupes} duplicated); ` +
      `${whole} of ${windows.length} windows after the first hold all ${n0(windows)} symbols`,
  );
  await r.stop();
}

function n0(windows: [number, number][]): number {
  return Math.max(0, ...windows.map(([, n]) => n));
}

async function heal(): Promise<void> {
  const r = await rig('heal', { initial: ['AAPL'], env: { RECONCILE_INTERVAL_MS: '5000' }, prefix: 'H' });
  await r.truth.whenFull(30_000);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const sym = `H${i}`;
    const t0 = Date.now();
    await r.redis.sadd(ACTIVE_TICKERS_KEY, sym); // no event: it was lost
    await until(() => r.sim.acknowledged().has(sym), 20_000, 'heal');
    times.push(Date.now() - t0);
  }
  console.log(`heal     a lost event (no stream entry), RECONCILE_INTERVAL_MS=5000: median ${median(times)} ms, max ${Math.max(...times)} ms (bounded by the interval)`);
  await r.stop();
}

const PHASES: Record<string, () => Promise<void>> = {
  latency,
  scale,
  storm: async () => {
    for (const n of (process.env.BENCH_STORM_SIZES ?? '47,10000').split(',')) await storm(Number(n));
  },
  limit,
  aggregates,
  heal,
};

async function main() {
  const wanted = (process.env.BENCH_PHASES ?? Object.keys(PHASES).join(',')).split(',').map((s) => s.trim());
  for (const name of wanted) {
    const phase = PHASES[name];
    if (!phase) throw new Error(`unknown phase ${name}: ${Object.keys(PHASES).join(', ')}`);
    await phase();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
