// Live prices through the real ws-server to thousands of browsers: delivery and tick-to-browser lag.
//
// A real redis-server and the real ws-server (`node main.js --role ws-server`, its own process,
// production defaults) are started; the eleven lists (200 distinct symbols) are written as the
// scanner writes them; then, once a second for WS_AGG_SECONDS (20), one tick of 200 aggregates is
// written to stream:realtime:aggregates as polygon-ws writes one upstream frame: every event's JSON
// in a `data` field, all of the frame's XADDs in one atomic transaction. Each event's end `e` is the
// moment of the write, so a client's lag is its receipt time minus `e` (one clock, one machine).
//
// The browsers are real WebSocket clients spread over WS_AGG_PROCS (4) child processes, so the
// measuring side is not one event loop. Four in five watch all eleven lists (the dashboard), the
// fifth three lists, so batches are encoded for several distinct sets of lists. Each client checks
// what it gets: a price for a symbol outside its lists, or the same price twice, is counted.
//
// Scenarios (WS_AGG_SCENARIOS): `batch:N` clients that subscribe with `batch: true`, `single:N`
// clients that do not (one message per price). Run: `npm run bench -- ws-aggregates`.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { startEmbeddedRedis } from '../src/services/embedded-redis.js';
import { freePort } from '../src/shared/free-port.js';
import {
  AGGREGATES_STREAM,
  CATEGORIES,
  categoryKey,
  RANKING_DELTAS_STREAM,
  STREAM_DATA_FIELD,
  type Category,
} from '../src/shared/redis-keys.js';

const SECONDS = Number(process.env.WS_AGG_SECONDS ?? 20);
const PROCS = Number(process.env.WS_AGG_PROCS ?? 4);
const SCENARIOS = (process.env.WS_AGG_SCENARIOS ?? 'batch:1000,batch:5000,single:100,single:1000').split(',').map((s) => {
  const [mode, n] = s.split(':');
  if ((mode !== 'batch' && mode !== 'single') || !Number(n)) throw new Error(`bad scenario ${s} (batch:N or single:N)`);
  return { batch: mode === 'batch', clients: Number(n) };
});
const SYMBOLS = 200;
const ROWS_PER_LIST = 25;
const LAG_BUCKETS = 60_001; // 1 ms each; the last holds everything later
/** How long after the last tick late prices still count as delivered. */
const DRAIN_MS = 20_000;

/** Ticker-like names: AAA, AAB, ... */
function symbolOf(i: number): string {
  return String.fromCharCode(65 + Math.floor(i / 676), 65 + (Math.floor(i / 26) % 26), 65 + (i % 26));
}

/** Each list 25 symbols, neighbours overlapping, together all 200. */
function listSymbols(k: number): number[] {
  return Array.from({ length: ROWS_PER_LIST }, (_, j) => (k * 19 + j) % SYMBOLS);
}

/** Four clients in five watch every list (the dashboard); the fifth three lists. */
function listsOfClient(i: number): Category[] {
  if (i % 5 !== 4) return [...CATEGORIES];
  const k = i % CATEGORIES.length;
  return [k, k + 4, k + 7].map((x) => CATEGORIES[x % CATEGORIES.length] as Category);
}

// ---------------------------------------------------------------------------------------------
// Browsers (child process)

type ToClients =
  | { cmd: 'connect'; url: string; first: number; n: number; batch: boolean }
  | { cmd: 'progress' }
  | { cmd: 'report' }
  | { cmd: 'close' };
type FromClients =
  | { ev: 'connected' }
  | { ev: 'progress'; received: number; closed: number }
  | { ev: 'report'; received: number; duplicates: number; foreign: number; closed: number; lags: [number, number][] }
  | { ev: 'closed' }
  | { ev: 'error'; message: string };

interface Browser {
  ws: WebSocket;
  watched: Uint8Array;
  lastEnd: Float64Array;
  snapshots: number;
  lists: number;
  /** Terminated by the bench itself: its close is not a drop. */
  done: boolean;
}

type ClientFrame = { type: string; items?: { symbol: unknown; time: unknown }[]; symbol?: unknown; time?: unknown };

// A real browser parses its frames on its own core; here about 1,250 browsers share one process
// on a 2-core machine that also runs the ws-server, so parsing every copy would measure this
// process's JSON.parse, not the server. Browsers watching the same lists are sent the same bytes:
// a batch frame byte-for-byte equal (Buffer.equals) to one parsed a moment ago reuses that parse. Each
// browser still checks every price it is given against its own lists and its own last price.
const recentFrames: { bytes: Buffer; frame: ClientFrame }[] = [];
function parsedFrame(data: Buffer): ClientFrame {
  // A single price (per-message mode) is cheaper to parse than to look up.
  if (data.length < 1024) return JSON.parse(data.toString()) as ClientFrame;
  for (const r of recentFrames) if (r.bytes.equals(data)) return r.frame;
  const frame = JSON.parse(data.toString()) as ClientFrame;
  recentFrames.unshift({ bytes: Buffer.from(data), frame });
  if (recentFrames.length > 32) recentFrames.pop();
  return frame;
}

function browsers(): void {
  const index = new Map<string, number>(Array.from({ length: SYMBOLS }, (_, i) => [symbolOf(i), i]));
  const all: Browser[] = [];
  const lags = new Uint32Array(LAG_BUCKETS);
  let received = 0;
  let duplicates = 0;
  let foreign = 0;
  let closed = 0;
  const send = (m: FromClients) => process.send?.(m);

  const item = (b: Browser, symbol: unknown, end: unknown, now: number) => {
    const i = typeof symbol === 'string' ? index.get(symbol) : undefined;
    if (i === undefined || typeof end !== 'number' || !b.watched[i]) {
      foreign++;
      return;
    }
    if (end <= (b.lastEnd[i] as number)) {
      duplicates++;
      return;
    }
    b.lastEnd[i] = end;
    received++;
    const k = Math.min(LAG_BUCKETS - 1, Math.max(0, Math.round(now - end)));
    lags[k] = (lags[k] ?? 0) + 1;
  };

  const open = (url: string, id: number, batch: boolean): Promise<Browser> =>
    new Promise((resolve, reject) => {
      const lists = listsOfClient(id);
      const watched = new Uint8Array(SYMBOLS);
      for (const l of lists) for (const s of listSymbols(CATEGORIES.indexOf(l))) watched[s] = 1;
      // A browser validates UTF-8 too; skipped here so the measuring side costs less than the server.
      const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
      const b: Browser = { ws, watched, lastEnd: new Float64Array(SYMBOLS), snapshots: 0, lists: lists.length, done: false };
      let ready = false;
      ws.on('message', (data: Buffer) => {
        const now = Date.now();
        // What a page does: parse every frame (see parsedFrame for what is shared here).
        const m = parsedFrame(data);
        if (m.type === 'aggregates') for (const it of m.items ?? []) item(b, it.symbol, it.time, now);
        else if (m.type === 'aggregate') item(b, m.symbol, m.time, now);
        else if (m.type === 'snapshot' && ++b.snapshots === b.lists && !ready) {
          ready = true;
          resolve(b);
        }
      });
      ws.once('open', () => ws.send(JSON.stringify(batch ? { action: 'subscribe', lists, batch: true } : { action: 'subscribe', lists })));
      ws.once('close', () => {
        if (!b.done) closed++;
        if (!ready) reject(new Error('closed before its snapshots'));
      });
      ws.once('error', reject);
    });

  process.on('message', async (m: ToClients) => {
    try {
      if (m.cmd === 'connect') {
        for (let i = 0; i < m.n; i += 100) {
          const ids = Array.from({ length: Math.min(100, m.n - i) }, (_, j) => m.first + i + j);
          all.push(...(await Promise.all(ids.map((id) => open(m.url, id, m.batch)))));
        }
        send({ ev: 'connected' });
      } else if (m.cmd === 'progress') {
        send({ ev: 'progress', received, closed });
      } else if (m.cmd === 'report') {
        const out: [number, number][] = [];
        lags.forEach((n, ms) => n && out.push([ms, n]));
        send({ ev: 'report', received, duplicates, foreign, closed, lags: out });
      } else if (m.cmd === 'close') {
        for (const b of all) {
          b.done = true;
          b.ws.terminate();
        }
        all.length = 0;
        lags.fill(0);
        received = duplicates = foreign = closed = 0;
        send({ ev: 'closed' });
      }
    } catch (err) {
      send({ ev: 'error', message: (err as Error).message });
    }
  });
}

class BrowserProcess {
  private readonly child: ChildProcess;
  private waiting: ((m: FromClients) => void) | null = null;
  constructor() {
    this.child = fork(fileURLToPath(import.meta.url), ['browsers'], { stdio: 'inherit' });
    this.child.on('message', (m: FromClients) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(m);
    });
  }
  ask<E extends FromClients['ev']>(m: ToClients): Promise<Extract<FromClients, { ev: E }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.ev === 'error' ? reject(new Error(r.message)) : resolve(r as Extract<FromClients, { ev: E }>));
      this.child.send(m);
    });
  }
  kill(): void {
    this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// The ws-server process, and what /proc says of it

function procStat(pid: number): { rssBytes: number; cpuMs: number; sysMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  // utime and stime, fields 14 and 15, in clock ticks (100 a second on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssBytes: rssKb * 1024, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, sysMs: Number(fields[12]) * 10 };
}

async function startWsServerProcess(redisUrl: string, logFile: string): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const port = await freePort();
  // WS_AGG_SERVER_MAIN: another build's main.js, to measure it against this one in the same conditions.
  const main = process.env.WS_AGG_SERVER_MAIN ?? new URL('../src/main.js', import.meta.url).pathname;
  const logFd = openSync(logFile, 'w');
  // WS_AGG_SERVER_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the ws-server.
  const nodeArgs = (process.env.WS_AGG_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, main, '--role', 'ws-server'], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl, WS_SERVER_PORT: String(port), WS_SERVER_HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ws-server exited with ${child.exitCode}; see ${logFile}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`ws-server not healthy on ${url}; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The writers: the scanner's lists once, then polygon-ws's ticks

async function writeLists(redis: Redis): Promise<void> {
  const tx = redis.multi();
  CATEGORIES.forEach((list, k) => {
    const rows = listSymbols(k).map((s, i) => ({ symbol: symbolOf(s), rank: i + 1, price: 10 + s / 10, change_percent: 4.2, volume: 1_000_000 + s, rvol: 2.5, market_cap: 1e9 }));
    tx.set(categoryKey(list), JSON.stringify(rows));
    tx.xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ type: 'snapshot', list, sequence: 1, rows }));
  });
  await tx.exec();
}

/** One upstream frame's aggregates, as polygon-ws's publisher writes them (one atomic batch of XADDs). */
async function writeTick(redis: Redis, t: number): Promise<void> {
  const e = Date.now();
  const tx = redis.multi();
  for (let i = 0; i < SYMBOLS; i++) {
    const c = 10 + ((i + t) % 100) / 100;
    const event = { ev: 'A', sym: symbolOf(i), v: 1000 + t, av: 100_000 + t * 1000, op: 10, vw: c, o: c, c, h: c + 0.01, l: c - 0.01, a: c, z: 50, s: e - 1000, e };
    tx.xadd(AGGREGATES_STREAM, 'MAXLEN', '~', 10_000, '*', STREAM_DATA_FIELD, JSON.stringify(event));
  }
  await tx.exec();
}

// ---------------------------------------------------------------------------------------------

function percentile(hist: Map<number, number>, total: number, p: number): number {
  let seen = 0;
  for (const ms of [...hist.keys()].sort((a, b) => a - b)) {
    seen += hist.get(ms) ?? 0;
    if (seen >= total * p) return ms;
  }
  return NaN;
}

async function metric(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line ? Number(line.split(' ').pop()) : NaN;
}

interface Row {
  mode: string;
  clients: number;
  delivered: string;
  duplicates: number;
  foreign: number;
  dropped: number;
  p50: number;
  p99: number;
  max: number;
  bytesPerClient: number;
  serverCpu: string;
  fanoutMs: string;
  reads: number;
  load: string;
}

async function scenario(redisUrl: string, batch: boolean, clients: number, procs: BrowserProcess[]): Promise<Row> {
  const redis = new Redis(redisUrl);
  await redis.flushall();
  await writeLists(redis);
  const logFile = path.join(tmpdir(), `ws-aggregates-bench-${process.pid}.log`);
  const server = await startWsServerProcess(redisUrl, logFile);
  let ok = false;
  try {
    const pid = server.child.pid as number;
    await new Promise((r) => setTimeout(r, 1_000));
    const before = procStat(pid);
    const per = Math.ceil(clients / procs.length);
    const wsUrl = `${server.url.replace('http', 'ws')}/ws`;
    await Promise.all(procs.map((p, k) => p.ask<'connected'>({ cmd: 'connect', url: wsUrl, first: k * per, n: Math.max(0, Math.min(per, clients - k * per)), batch })));
    await new Promise((r) => setTimeout(r, 2_000));
    const connected = procStat(pid);
    const load0 = loadavg()[0] as number;
    const start = Date.now();
    for (let t = 0; t < SECONDS; t++) {
      const at = start + t * 1_000;
      if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
      await writeTick(redis, t);
    }
    // Expected from the scenario itself, not from what arrived: every client, every tick, its symbols.
    let watchedSum = 0;
    for (let i = 0; i < clients; i++) {
      const s = new Set<number>();
      for (const l of listsOfClient(i)) for (const x of listSymbols(CATEGORIES.indexOf(l))) s.add(x);
      watchedSum += s.size;
    }
    const expected = watchedSum * SECONDS;
    // Until everything arrived, nothing more arrives for 3 s, or DRAIN_MS after the last tick.
    let last = -1;
    let still = Date.now();
    const drainEnd = Date.now() + DRAIN_MS;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const ps = await Promise.all(procs.map((p) => p.ask<'progress'>({ cmd: 'progress' })));
      const got = ps.reduce((a, p) => a + p.received, 0);
      if (got !== last) {
        last = got;
        still = Date.now();
      }
      if (got >= expected || Date.now() - still > 3_000 || Date.now() > drainEnd) break;
    }
    const after = procStat(pid);
    const fanoutSum = await metric(server.url, 'livescan_ws_server_aggregate_tick_seconds_sum', '');
    const fanoutCount = await metric(server.url, 'livescan_ws_server_aggregate_tick_seconds_count', '');
    const load1 = loadavg()[0] as number;
    const reports = await Promise.all(procs.map((p) => p.ask<'report'>({ cmd: 'report' })));
    const hist = new Map<number, number>();
    let received = 0;
    let duplicates = 0;
    let foreign = 0;
    let dropped = 0;
    for (const r of reports) {
      received += r.received;
      duplicates += r.duplicates;
      foreign += r.foreign;
      dropped += r.closed;
      for (const [ms, n] of r.lags) hist.set(ms, (hist.get(ms) ?? 0) + n);
    }
    await Promise.all(procs.map((p) => p.ask<'closed'>({ cmd: 'close' })));
    ok = true;
    return {
      mode: batch ? 'batch' : 'per-message',
      clients,
      delivered: `${((100 * last) / expected).toFixed(2)} %`,
      duplicates,
      foreign,
      dropped,
      p50: percentile(hist, received, 0.5),
      p99: percentile(hist, received, 0.99),
      max: percentile(hist, received, 1),
      bytesPerClient: Math.round((connected.rssBytes - before.rssBytes) / clients),
      serverCpu: `${((after.cpuMs - connected.cpuMs) / SECONDS).toFixed(0)} (${((after.sysMs - connected.sysMs) / SECONDS).toFixed(0)} sys)`,
      fanoutMs: fanoutCount > 0 ? ((1000 * fanoutSum) / fanoutCount).toFixed(1) : '-',
      reads: fanoutCount,
      load: `${load0.toFixed(2)} -> ${load1.toFixed(2)}`,
    };
  } finally {
    redis.disconnect();
    await server.stop();
    // Its log is kept only when something went wrong.
    if (ok) rmSync(logFile, { force: true });
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const redisServer = await startEmbeddedRedis();
  const procs = Array.from({ length: PROCS }, () => new BrowserProcess());
  console.log(
    `ws-aggregates: ${SYMBOLS} symbols in ${CATEGORIES.length} lists, one tick of ${SYMBOLS} aggregates a second for ${SECONDS} s, ` +
      `browsers in ${PROCS} child processes; 2 cores, load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
  );
  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      const r = await scenario(redisServer.url, s.batch, s.clients, procs);
      rows.push(r);
      if (process.env.WS_AGG_VERBOSE) console.log(r);
    }
  } finally {
    procs.forEach((p) => p.kill());
    await redisServer.stop();
  }
  const header = ['mode', 'browsers', 'delivered', 'duplicates', 'foreign', 'dropped', 'lag p50 ms', 'lag p99 ms', 'lag max ms', 'RSS bytes/browser', 'ws-server CPU ms/tick', 'fan-out ms/read', 'reads', 'load 1m'];
  const cells = rows.map((r) => [r.mode, r.clients.toLocaleString('en-US'), r.delivered, String(r.duplicates), String(r.foreign), String(r.dropped), String(r.p50), String(r.p99), String(r.max), r.bytesPerClient.toLocaleString('en-US'), r.serverCpu, r.fanoutMs, String(r.reads), r.load]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => c.map((x, i) => x.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const c of cells) console.log(line(c));
  console.log(
    `\ndelivered: distinct prices received when the wait ended (all in, 3 s without any, or ${DRAIN_MS / 1000} s after the last tick) / (ticks x symbols in each browser's lists);` +
      ' duplicates: a price received again; foreign: a price outside the browser\'s lists.' +
      '\nlag: receipt minus the tick\'s write (its `e`), per price. RSS bytes/browser: ws-server RSS growth on connecting them, over their number.' +
      '\nfan-out ms/read: the ws-server\'s mean time to send one read\'s prices to every browser (livescan_ws_server_aggregate_tick_seconds); reads: how many reads carried the ticks.' +
      `\nws-server CPU ms/tick: its CPU time (user+system, of which system in brackets; /proc) from the first tick to the last receipt, over the ticks: what a tick costs it whatever the load. Run time ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
  );
}

if (process.argv[2] === 'browsers') {
  browsers();
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
