// ws-server fan-out against a bare `ws` server sending the same bytes, in the same run.
//
// For 1,000 and 5,000 real WebSocket clients (in a child process, on 127.0.0.1), each server is
// measured in turn: memory per connected client (heap + external after gc, all clients
// subscribed to the eleven lists), then rounds of broadcasts: ranking deltas (each to every
// client) and aggregates (routed through symbolToLists; every client watches every list, so each
// reaches every client too; ours sends them a read at a time, ten per read, as its stream handler
// does, one `aggregate` message per price; the bare server sends each as it comes). A round ends when the clients have received every message. Figures
// are medians over the rounds; the ratio is ours / bare (memory, CPU: lower is better; rate:
// higher is better). Run: `npm run bench -- ws-fanout` (WS_FANOUT_SIZES=2000 for other sizes,
// WS_FANOUT_VERBOSE=1 for every round).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../src/shared/logger.js';
import { CATEGORIES, type Category } from '../src/shared/redis-keys.js';
import { ClientHub, type TickPrice } from '../src/ws-server/client-hub.js';
import { encodeAggregate, encodeAggregateItem, encodeDelta } from '../src/ws-server/client-protocol.js';
import { maskOf } from '../src/ws-server/list-mask.js';
import { resolveLimits } from '../src/ws-server/limits.js';
import { ListStore, type DeltaItem, type Row } from '../src/ws-server/list-store.js';
import { RankingSync } from '../src/ws-server/ranking-sync.js';
import { startWsHttpServer } from '../src/ws-server/server.js';

const SIZES = (process.env.WS_FANOUT_SIZES ?? '1000,5000').split(',').map(Number);
const ROUNDS = 3;
const DELTAS_PER_ROUND = 20;
const AGGREGATES_PER_ROUND = 20;
const REPEATS = 4;

// ---------------------------------------------------------------------------------------------
// The client swarm (child process)

type ToSwarm = { cmd: 'connect'; url: string; n: number } | { cmd: 'expect'; total: number } | { cmd: 'close' };
type FromSwarm = { ev: 'connected' } | { ev: 'reached'; messages: number } | { ev: 'closed' } | { ev: 'error'; message: string };

async function swarm(): Promise<void> {
  let sockets: WebSocket[] = [];
  let messages = 0;
  let target = Infinity;
  const send = (m: FromSwarm) => process.send?.(m);
  const check = () => {
    if (messages >= target) {
      target = Infinity;
      send({ ev: 'reached', messages });
    }
  };
  process.on('message', async (m: ToSwarm) => {
    if (m.cmd === 'connect') {
      messages = 0;
      const subscribe = JSON.stringify({ action: 'subscribe', lists: CATEGORIES });
      const open = (): Promise<WebSocket> =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(m.url, { perMessageDeflate: false, skipUTF8Validation: true });
          ws.on('message', () => {
            messages++;
            if (target !== Infinity) check();
          });
          ws.once('open', () => {
            ws.send(subscribe);
            resolve(ws);
          });
          ws.once('error', reject);
        });
      try {
        for (let i = 0; i < m.n; i += 200) {
          sockets.push(...(await Promise.all(Array.from({ length: Math.min(200, m.n - i) }, open))));
        }
        send({ ev: 'connected' });
      } catch (err) {
        send({ ev: 'error', message: (err as Error).message });
      }
    } else if (m.cmd === 'expect') {
      target = m.total;
      check();
    } else if (m.cmd === 'close') {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((r) => {
              ws.once('close', () => r());
              ws.terminate();
            }),
        ),
      );
      sockets = [];
      send({ ev: 'closed' });
    }
  });
}

class Swarm {
  private readonly child: ChildProcess;
  private waiting: ((m: FromSwarm) => void) | null = null;
  constructor() {
    this.child = fork(fileURLToPath(import.meta.url), ['swarm'], { stdio: 'inherit' });
    this.child.on('message', (m: FromSwarm) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(m);
    });
  }
  private ask(m: ToSwarm): Promise<FromSwarm> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.ev === 'error' ? reject(new Error(r.message)) : resolve(r));
      this.child.send(m);
    });
  }
  connect(url: string, n: number) {
    return this.ask({ cmd: 'connect', url, n });
  }
  /** Resolves once the swarm has received `total` messages since it connected. */
  expect(total: number) {
    return this.ask({ cmd: 'expect', total });
  }
  close() {
    return this.ask({ cmd: 'close' });
  }
  kill() {
    this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// The two servers

interface Contender {
  name: 'ours' | 'bare';
  url: string;
  /** Messages each client receives on connecting (snapshots). */
  perClientOnConnect: number;
  delta(i: number): void;
  aggregate(i: number): void;
  /** The end of a stream read: ours sends the tick's aggregates now. */
  endOfRead(): void;
  clients(): number;
  close(): Promise<void>;
}

function seedRows(list: Category, k: number): Row[] {
  return Array.from({ length: 20 }, (_, i) => ({
    symbol: `S${k}${String.fromCharCode(65 + i)}`,
    rank: i + 1,
    price: 10 + i,
    change_percent: 1.5 * i,
    volume: 100_000 * (i + 1),
    rvol: 2.5,
    market_cap: 1e9,
  }));
}

/** The same stream entries for both: deltas that update one row's price, by list in turn. */
function workload() {
  const lists = CATEGORIES.map((c, k) => ({ list: c, rows: seedRows(c, k) }));
  const deltaJson = (i: number, seq: number): string => {
    const { list, rows } = lists[i % lists.length] as { list: Category; rows: Row[] };
    const row = rows[i % rows.length] as Row;
    const deltas: DeltaItem[] = [
      { action: 'update', symbol: row.symbol, data: { ...row, price: 10 + (seq % 100) / 10, volume: 100_000 + seq } },
      { action: 'rerank', symbol: row.symbol, new_rank: row.rank as number, old_rank: row.rank as number },
    ];
    return JSON.stringify({ type: 'delta', list, sequence: seq, deltas, change_count: deltas.length });
  };
  const symbols = lists.flatMap((l) => l.rows.map((r) => r.symbol));
  const aggregateJson = (i: number): string => {
    const sym = symbols[i % symbols.length] as string;
    return JSON.stringify({ ev: 'A', sym, v: 100 + i, av: 10_000, op: 10, vw: 10.1, o: 10, c: 10 + (i % 50) / 100, h: 11, l: 9, a: 10, z: 5, s: 1_700_000_000_000 + i * 1000, e: 1_700_000_001_000 + i * 1000 });
  };
  return { lists, deltaJson, aggregateJson };
}

async function startOurs(): Promise<Contender> {
  const log = createLogger({ level: 'silent' });
  const w = workload();
  const store = new ListStore();
  for (const { list, rows } of w.lists) store.replace(list, rows, 0);
  const limits = resolveLimits({ heartbeatMs: 600_000 });
  const hub = new ClientHub({ store, limits, log });
  // Only a gap needs Redis; this workload never has one.
  const sync = new RankingSync({ store, redis: {} as Redis, out: hub, log });
  const server = await startWsHttpServer({
    host: '127.0.0.1',
    port: 0,
    hub,
    limits,
    allowedOrigins: [],
    log,
    health: () => ({ ok: true, body: {} }),
    status: async () => ({}),
  });
  const seq = new Map<Category, number>(CATEGORIES.map((c) => [c, 0]));
  let tick: TickPrice[] = [];
  return {
    name: 'ours',
    url: `ws://127.0.0.1:${server.port}/ws`,
    perClientOnConnect: CATEGORIES.length,
    delta(i) {
      const list = CATEGORIES[i % CATEGORIES.length] as Category;
      const s = (seq.get(list) ?? 0) + 1;
      seq.set(list, s);
      void sync.handleEntry('0-1', ['data', w.deltaJson(i, s)]);
    },
    aggregate(i) {
      // What the aggregates stream handler does per entry.
      const m = JSON.parse(w.aggregateJson(i)) as { sym: string; c: number; e: number; v: number };
      if (!store.listsOf(m.sym)) return;
      const lists = store.listsOf(m.sym);
      if (!lists) return;
      tick.push({ lists: maskOf(lists), item: encodeAggregateItem({ symbol: m.sym, price: m.c, time: m.e, volume: m.v }) });
    },
    endOfRead() {
      hub.broadcastTick(tick);
      tick = [];
    },
    clients: () => hub.size,
    close: () => server.close(),
  };
}

async function startBare(): Promise<Contender> {
  const w = workload();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const addr = wss.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const seq = new Map<Category, number>(CATEGORIES.map((c) => [c, 0]));
  const broadcast = (frame: Buffer) => {
    for (const c of wss.clients) c.send(frame, { binary: false });
  };
  return {
    name: 'bare',
    url: `ws://127.0.0.1:${port}/ws`,
    perClientOnConnect: 0,
    delta(i) {
      // The very bytes ours sends: its encoder applied to the same message.
      const list = CATEGORIES[i % CATEGORIES.length] as Category;
      const s = (seq.get(list) ?? 0) + 1;
      seq.set(list, s);
      const m = JSON.parse(w.deltaJson(i, s)) as { list: Category; sequence: number; deltas: unknown[]; change_count: number };
      broadcast(Buffer.from(encodeDelta(m), 'utf8'));
    },
    aggregate(i) {
      const m = JSON.parse(w.aggregateJson(i)) as { sym: string; c: number; e: number; v: number };
      broadcast(Buffer.from(encodeAggregate({ symbol: m.sym, price: m.c, time: m.e, volume: m.v }), 'utf8'));
    },
    endOfRead() {
      // A bare server has no notion of a read: it sent each aggregate already.
    },
    clients: () => wss.clients.size,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

const gc = (globalThis as { gc?: () => void }).gc;
function memory(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Figures {
  bytesPerClient: number[];
  deltaRate: number[]; // deliveries per second
  deltaCpuUs: number[]; // server CPU µs per delivery
  aggRate: number[];
  aggCpuUs: number[];
}

async function round(c: Contender, swarmClient: Swarm, n: number, received: { total: number }, kind: 'delta' | 'aggregate') {
  const count = kind === 'delta' ? DELTAS_PER_ROUND : AGGREGATES_PER_ROUND;
  received.total += n * count;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const done = swarmClient.expect(received.total);
  // In slices, yielding between them, as broadcasts arrive from Redis in batches.
  for (let i = 0; i < count; i += 10) {
    for (let j = i; j < Math.min(count, i + 10); j++) (kind === 'delta' ? c.delta(j) : c.aggregate(j));
    c.endOfRead();
    await new Promise((r) => setImmediate(r));
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (n * count) / seconds, cpuUs: (cpu.user + cpu.system) / (n * count) };
}

async function measure(make: () => Promise<Contender>, n: number, swarmClient: Swarm, fig: Figures): Promise<void> {
  const before = memory();
  const c = await make();
  await swarmClient.connect(c.url, n);
  const received = { total: n * c.perClientOnConnect };
  await swarmClient.expect(received.total);
  if (c.clients() !== n) throw new Error(`${c.name}: ${c.clients()} clients instead of ${n}`);
  fig.bytesPerClient.push((memory() - before) / n);
  await round(c, swarmClient, n, received, 'delta'); // warm-up
  await round(c, swarmClient, n, received, 'aggregate');
  for (let r = 0; r < ROUNDS; r++) {
    const d = await round(c, swarmClient, n, received, 'delta');
    if (process.env.WS_FANOUT_VERBOSE) console.log(c.name, n, 'delta', Math.round(d.rate), d.cpuUs.toFixed(2));
    fig.deltaRate.push(d.rate);
    fig.deltaCpuUs.push(d.cpuUs);
    const a = await round(c, swarmClient, n, received, 'aggregate');
    fig.aggRate.push(a.rate);
    fig.aggCpuUs.push(a.cpuUs);
  }
  await swarmClient.close();
  await c.close();
}

const empty = (): Figures => ({ bytesPerClient: [], deltaRate: [], deltaCpuUs: [], aggRate: [], aggCpuUs: [] });

async function main(): Promise<void> {
  if (!gc) console.log('(no global.gc: run with --expose-gc for steadier memory figures)');
  const swarmClient = new Swarm();
  const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(
    `ws-fanout: ${DELTAS_PER_ROUND} deltas and ${AGGREGATES_PER_ROUND} aggregates per round, ${ROUNDS} rounds x ${REPEATS} repeats, clients in a child process; medians\n`,
  );
  const header = ['clients', 'server', 'bytes/client', 'delta deliveries/s', 'delta CPU us/delivery', 'aggregate deliveries/s', 'aggregate CPU us/delivery'];
  const rows: string[][] = [];
  try {
    for (const n of SIZES) {
      const ours = empty();
      const bare = empty();
      // ABBA order: a drift over the run (kernel, the swarm's heap) weighs on both alike.
      for (let r = 0; r < REPEATS; r++) {
        if (r % 2 === 0) {
          await measure(startBare, n, swarmClient, bare);
          await measure(startOurs, n, swarmClient, ours);
        } else {
          await measure(startOurs, n, swarmClient, ours);
          await measure(startBare, n, swarmClient, bare);
        }
      }
      const m = (f: Figures) => ({
        mem: median(f.bytesPerClient),
        dr: median(f.deltaRate),
        dc: median(f.deltaCpuUs),
        ar: median(f.aggRate),
        ac: median(f.aggCpuUs),
      });
      const o = m(ours);
      const b = m(bare);
      rows.push([fmt(n), 'bare ws', fmt(b.mem), fmt(b.dr), fmt(b.dc, 2), fmt(b.ar), fmt(b.ac, 2)]);
      rows.push([fmt(n), 'ws-server', fmt(o.mem), fmt(o.dr), fmt(o.dc, 2), fmt(o.ar), fmt(o.ac, 2)]);
      rows.push([fmt(n), 'ratio ours/bare', fmt(o.mem / b.mem, 2), fmt(o.dr / b.dr, 2), fmt(o.dc / b.dc, 2), fmt(o.ar / b.ar, 2), fmt(o.ac / b.ac, 2)]);
    }
  } finally {
    swarmClient.kill();
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(
    '\nbytes/client: heap+external growth per connected client (ours includes its 11 snapshots sent and subscription state).' +
      '\ndeliveries/s: messages received by all clients per second, wall clock, until the last one arrived (the client swarm shares the 2 cores).' +
      '\nCPU us/delivery: server process CPU time per message delivered (the fan-out cost).',
  );
}

if (process.argv[2] === 'swarm') {
  void swarm();
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
