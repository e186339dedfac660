import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { WebSocket } from 'ws';
import { decodeServerFrame, serverEvents } from '../../src/upstream/codec.js';
import {
  startPolygonSimulator,
  type PolygonSimulator,
  type PolygonSimulatorOptions,
} from '../../src/simulator/polygon-simulator.js';
import { eventually } from '../helpers/wait.js';
import { SimClient, type StatusLike } from './sim-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const AGG_FIELDS = ['sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e'] as const;

const sims: PolygonSimulator[] = [];
const clients: SimClient[] = [];

async function start(opts: PolygonSimulatorOptions = {}): Promise<PolygonSimulator> {
  const sim = await startPolygonSimulator({ aggregateIntervalMs: 50, ...opts });
  sims.push(sim);
  return sim;
}

async function connect(sim: PolygonSimulator): Promise<SimClient> {
  const c = await SimClient.connect(sim.url);
  clients.push(c);
  return c;
}

async function authed(sim: PolygonSimulator, key = 'sim-key'): Promise<SimClient> {
  const c = await connect(sim);
  await c.auth(key);
  return c;
}

/** Frames (parsed arrays) holding at least one event matching `pred`. */
function framesWith(c: SimClient, pred: (e: StatusLike) => boolean): StatusLike[][] {
  return c.frames.filter((f): f is StatusLike[] => Array.isArray(f) && (f as StatusLike[]).some(pred));
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('polygon simulator: connection and auth', () => {
  it('greets with the connected status as its first frame, at ws://127.0.0.1:PORT/stocks', async () => {
    const sim = await start();
    expect(sim.url).toBe(`ws://127.0.0.1:${sim.port}/stocks`);
    const c = await connect(sim);
    await eventually(() => c.raw.length > 0, 'first frame');
    expect(JSON.parse(c.raw[0] ?? '')).toEqual([{ ev: 'status', status: 'connected', message: 'Connected Successfully' }]);
    expect(sim.stats().connectionsTotal).toBe(1);
    expect(sim.stats().openConnections).toBe(1);
  });

  it('authenticates a known key', async () => {
    const sim = await start({ apiKeys: ['k1'] });
    const c = await authed(sim, 'k1');
    expect(c.statuses().find((s) => s.status === 'auth_success')).toEqual(serverEvents.authSuccess());
    expect(sim.stats().authSuccess).toBe(1);
    const [info] = sim.connections();
    expect(info).toMatchObject({ apiKey: 'k1', authenticated: true });
    expect(sim.liveConnectionId()).toBe(info?.id);
  });

  it('answers an unknown key with auth_failed, then closes', async () => {
    const sim = await start({ apiKeys: ['k1'] });
    const c = await connect(sim);
    await c.waitMessage('Connected Successfully');
    c.send({ action: 'auth', params: 'wrong' });
    await c.waitStatus((s) => s.status === 'auth_failed', 'auth_failed');
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats().authFailed).toBe(1);
    expect(sim.connections()[0]).toMatchObject({ apiKey: null, authenticated: false, closeCode: 1008 });
  });

  it('closes a connection that does not authenticate in time', async () => {
    const sim = await start({ authTimeoutMs: 150 });
    const c = await connect(sim);
    const st = await c.waitMessage('No authentication request received.');
    expect(st.status).toBe('error');
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats().authTimeouts).toBe(1);
  });

  it('refuses a subscribe before auth, without an ack', async () => {
    const sim = await start();
    const c = await connect(sim);
    await c.waitMessage('Connected Successfully');
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    const st = await c.waitStatus((s) => s.status === 'error', 'not authorized');
    expect(st.message).toMatch(/not authorized/);
    // Auth afterwards still works, and the early subscribe was not applied.
    c.send({ action: 'auth', params: 'sim-key' });
    await c.waitStatus((s) => s.status === 'auth_success', 'auth_success');
    expect(c.statuses().some((s) => s.status === 'success')).toBe(false);
    expect(sim.acknowledged().size).toBe(0);
    expect(sim.stats()).toMatchObject({ refusedNotAuthorized: 1, subscribeMessages: 0 });
  });
});

describe('polygon simulator: subscriptions', () => {
  it('acks each channel, all acks of one message in one frame, and records them as acknowledged', async () => {
    const sim = await start();
    const seen: { connId: string; symbols: string[]; at: number }[] = [];
    sim.on('subscribed', (connId, symbols, at) => seen.push({ connId, symbols, at }));
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.AAPL,A.MSFT,A.TSLA' });
    await c.waitMessage('subscribed to: A.TSLA');
    const ackFrames = framesWith(c, (e) => e.status === 'success');
    expect(ackFrames).toHaveLength(1);
    expect(ackFrames[0]).toEqual([
      serverEvents.subscribed('A.AAPL'),
      serverEvents.subscribed('A.MSFT'),
      serverEvents.subscribed('A.TSLA'),
    ]);
    expect([...sim.acknowledged()].sort()).toEqual(['AAPL', 'MSFT', 'TSLA']);
    expect(sim.acknowledged(sim.liveConnectionId())).toEqual(sim.acknowledged());
    expect(seen).toHaveLength(1);
    expect(seen[0]?.symbols).toEqual(['AAPL', 'MSFT', 'TSLA']);
    expect(seen[0]?.connId).toBe(sim.liveConnectionId());
    // The codec reads the ack the way the client will.
    const decoded = decodeServerFrame(c.raw[c.raw.length - 1] ?? '');
    expect(decoded.statuses.flatMap((s) => s.symbols ?? [])).toEqual(['AAPL', 'MSFT', 'TSLA']);
    expect(sim.stats()).toMatchObject({ subscribeMessages: 1, channelsSubscribed: 3, maxChannelsPerMessage: 3, acksSent: 3 });
    const log = sim.clientMessages();
    expect(log.map((m) => m.action)).toEqual(['auth', 'subscribe']);
    expect(log[0]?.channels).toEqual([]);
    expect(log[1]?.channels).toEqual(['A.AAPL', 'A.MSFT', 'A.TSLA']);
  });

  it('unsubscribes with "unsubscribed to:" acks, and streams nothing for the symbol after the ack', async () => {
    const sim = await start();
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.AAPL,A.MSFT' });
    await eventually(() => c.aggregates().filter((a) => a.sym === 'MSFT').length >= 2, 'MSFT aggregates');
    c.send({ action: 'unsubscribe', params: 'A.MSFT' });
    const st = await c.waitMessage('unsubscribed to: A.MSFT');
    expect(st).toEqual(serverEvents.unsubscribed('A.MSFT'));
    expect([...sim.acknowledged()]).toEqual(['AAPL']);
    const ackIndex = c.frames.findIndex((f) => Array.isArray(f) && (f as StatusLike[]).some((e) => e.message === 'unsubscribed to: A.MSFT'));
    const before = c.frames.length;
    await eventually(() => c.frames.length >= before + 3, 'more frames');
    const after = c.frames.slice(ackIndex + 1).flatMap((f) => (Array.isArray(f) ? (f as StatusLike[]) : []));
    expect(after.some((e) => e.sym === 'AAPL')).toBe(true);
    expect(after.some((e) => e.sym === 'MSFT')).toBe(false);
    expect(sim.stats()).toMatchObject({ unsubscribeMessages: 1, channelsUnsubscribed: 1 });
  });

  it('answers an invalid channel with an error and keeps the valid ones', async () => {
    const sim = await start();
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.AAPL,bogus,A.lower' });
    await c.waitMessage('subscribed to: A.AAPL');
    await eventually(() => c.statuses().filter((s) => s.status === 'error').length === 2, 'two errors');
    expect([...sim.acknowledged()]).toEqual(['AAPL']);
    expect(sim.stats().invalidChannels).toBe(2);
  });
});

describe('polygon simulator: aggregates', () => {
  it('sends one batched frame per tick with a full A event for each subscribed symbol of that connection only', async () => {
    const sim = await start({
      apiKeys: ['k1', 'k2'],
      priceSource: (sym) => (sym === 'NOTRD' ? undefined : { price: 10 + sym.length, volume: 500 }),
    });
    const c1 = await authed(sim, 'k1');
    const c2 = await authed(sim, 'k2');
    c1.send({ action: 'subscribe', params: 'A.AAPL,A.MSFT,A.NOTRD' });
    c2.send({ action: 'subscribe', params: 'A.TSLA' });
    const both = (e: StatusLike) => e.ev === 'A';
    await eventually(
      () => framesWith(c1, both).filter((f) => f.length === 2).length >= 3 && framesWith(c2, both).length >= 3,
      'several aggregate frames on both connections',
    );
    for (const frame of framesWith(c1, both)) {
      expect(frame.map((e) => e.sym).sort()).toEqual(['AAPL', 'MSFT']);
    }
    for (const a of c1.aggregates().concat(c2.aggregates())) {
      for (const f of AGG_FIELDS) expect(a[f], `field ${f}`).toBeDefined();
      for (const f of AGG_FIELDS.filter((x) => x !== 'sym')) expect(Number.isFinite(a[f]), `field ${f}`).toBe(true);
      expect((a.e as number) - (a.s as number)).toBe(1000);
      expect(a.h as number).toBeGreaterThanOrEqual(Math.max(a.o as number, a.c as number));
      expect(a.l as number).toBeLessThanOrEqual(Math.min(a.o as number, a.c as number));
    }
    expect(new Set(c2.aggregates().map((a) => a.sym))).toEqual(new Set(['TSLA']));
    // Windows advance, and the client codec accepts every frame.
    const ends = c1.aggregates().filter((a) => a.sym === 'AAPL').map((a) => a.e as number);
    for (let i = 1; i < ends.length; i++) expect(ends[i]).toBeGreaterThan(ends[i - 1] ?? 0);
    for (const raw of c1.raw) expect(decodeServerFrame(raw).rejected).toEqual([]);
    expect(sim.stats().aggregatesSent).toBeGreaterThanOrEqual(c1.aggregates().length + c2.aggregates().length);
  });

  it('walks a seeded random price by default, and accumulates the day volume', async () => {
    const sim = await start();
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.NVDA' });
    await eventually(() => c.aggregates().length >= 3, 'aggregates');
    const [a1, a2] = c.aggregates();
    expect(a1?.c).toBeGreaterThan(0);
    expect(a2?.o).toBe(a1?.c);
    expect(a2?.av).toBe((a1?.av as number) + (a2?.v as number));
    expect(a2?.op).toBe(a1?.op);
  });

  it('streams the universe to an A.* subscriber', async () => {
    const sim = await start({ universe: ['AAPL', 'MSFT'] });
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.*' });
    await c.waitMessage('subscribed to: A.*');
    await eventually(() => new Set(c.aggregates().map((a) => a.sym)).size === 2, 'both universe symbols');
  });
});

describe('polygon simulator: one connection per key', () => {
  it('kicks the older connection with max_connections and 1008 when a newer one authenticates', async () => {
    const sim = await start();
    const c1 = await authed(sim);
    c1.send({ action: 'subscribe', params: 'A.AAPL' });
    await c1.waitMessage('subscribed to: A.AAPL');
    const oldId = sim.liveConnectionId();
    const c2 = await authed(sim);
    const st = await c1.waitStatus((s) => s.status === 'max_connections', 'max_connections');
    expect(st).toEqual(serverEvents.maxConnections());
    expect(await c1.waitClosed()).toBe(1008);
    expect(c2.ws.readyState).toBe(WebSocket.OPEN);
    expect(c2.statuses().some((s) => s.status === 'max_connections')).toBe(false);
    await eventually(() => sim.stats().closesByCode['1008'] === 1, '1008 counted');
    expect(sim.stats()).toMatchObject({ maxConnectionsKicks: 1, maxConcurrentAuthenticated: 2, authenticatedNow: 1 });
    // The live connection is the new one, which has acknowledged nothing; the old record stays.
    expect(sim.liveConnectionId()).not.toBe(oldId);
    expect(sim.acknowledged().size).toBe(0);
    expect([...sim.acknowledged(oldId)]).toEqual(['AAPL']);
    expect(sim.connections().find((x) => x.id === oldId)).toMatchObject({ closeCode: 1008 });
  });

  it('does not kick across keys, and counts sequential reconnects as one connection at a time', async () => {
    const sim = await start({ apiKeys: ['k1', 'k2'] });
    const a = await authed(sim, 'k1');
    await authed(sim, 'k2');
    expect(sim.stats()).toMatchObject({ maxConnectionsKicks: 0, maxConcurrentAuthenticated: 2 });
    expect(a.ws.readyState).toBe(WebSocket.OPEN);

    const sim2 = await start();
    for (let i = 0; i < 3; i++) {
      const c = await authed(sim2);
      await c.close();
    }
    expect(sim2.stats()).toMatchObject({ maxConcurrentAuthenticated: 1, authSuccess: 3, maxConnectionsKicks: 0 });
  });

  it('kicks on demand with kickWithMaxConnections()', async () => {
    const sim = await start();
    const c = await authed(sim);
    expect(sim.kickWithMaxConnections()).toBe(1);
    await c.waitStatus((s) => s.status === 'max_connections', 'max_connections');
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats().maxConnectionsKicks).toBe(1);
  });
});

describe('polygon simulator: faults', () => {
  it('closes with 1008 on a schedule, until the schedule is stopped', async () => {
    const sim = await start({ schedule1008EveryMs: 100 });
    const c = await authed(sim);
    expect(await c.waitClosed()).toBe(1008);
    await eventually(() => (sim.stats().closesByCode['1008'] ?? 0) >= 1, '1008 counted');
    sim.setSchedule1008(null);
    const d = await authed(sim);
    await sleep(400);
    expect(d.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes one connection with 1008 on demand', async () => {
    const sim = await start({ apiKeys: ['k1', 'k2'] });
    const a = await authed(sim, 'k1');
    const b = await authed(sim, 'k2');
    const idA = sim.connections()[0]?.id ?? '';
    expect(sim.close1008(idA)).toBe(1);
    expect(await a.waitClosed()).toBe(1008);
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('drops a slow consumer: status slow_consumer, then 1008', async () => {
    const sim = await start();
    const c = await authed(sim);
    sim.dropSlowConsumer();
    await c.waitStatus((s) => s.status === 'slow_consumer', 'slow_consumer');
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats().slowConsumerDrops).toBe(1);
  });

  it('delays acks (slow acks) and keeps the order of a subscribe and a later unsubscribe', async () => {
    const sim = await start({ ackDelayMs: 300 });
    const c = await authed(sim);
    let ackedAtRequest: Set<string> | undefined;
    let requestedAt = 0;
    let ackedAt = 0;
    sim.on('subscribeRequested', (_id, _symbols, at) => {
      requestedAt = at;
      ackedAtRequest = sim.acknowledged();
    });
    sim.on('subscribed', (_id, _symbols, at) => {
      ackedAt = at;
    });
    c.send({ action: 'subscribe', params: 'A.AAPL,A.MSFT' });
    await c.waitMessage('subscribed to: A.MSFT');
    expect(ackedAtRequest?.size).toBe(0);
    expect(ackedAt - requestedAt).toBeGreaterThanOrEqual(250);
    expect(framesWith(c, (e) => e.status === 'success')).toHaveLength(1);
    expect([...sim.acknowledged()].sort()).toEqual(['AAPL', 'MSFT']);

    // Lowering the delay never lets a later message overtake an earlier one; acks due together share a frame.
    c.send({ action: 'subscribe', params: 'A.TSLA' });
    await eventually(() => sim.stats().subscribeMessages === 2, 'second subscribe received');
    sim.setAckDelay(0);
    c.send({ action: 'unsubscribe', params: 'A.TSLA' });
    await c.waitMessage('unsubscribed to: A.TSLA');
    const frame = framesWith(c, (e) => e.message === 'unsubscribed to: A.TSLA')[0];
    expect(frame?.map((e) => e.message)).toEqual(['subscribed to: A.TSLA', 'unsubscribed to: A.TSLA']);
    expect(sim.acknowledged().has('TSLA')).toBe(false);
  });

  it('loses acks on demand while still applying the subscription', async () => {
    const sim = await start();
    const c = await authed(sim);
    sim.dropAcks(1);
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    await eventually(() => c.aggregates().some((a) => a.sym === 'AAPL'), 'AAPL data without an ack');
    expect(c.statuses().some((s) => s.status === 'success')).toBe(false);
    expect(sim.acknowledged().size).toBe(0);
    expect([...sim.subscriptions()]).toEqual(['AAPL']);
    expect(sim.stats().acksDropped).toBe(1);
    sim.dropAcks(0);
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    await c.waitMessage('subscribed to: A.AAPL');
    expect([...sim.acknowledged()]).toEqual(['AAPL']);
  });

  it('sends each kind of malformed frame, on demand and on a schedule', async () => {
    const sim = await start({ aggregateIntervalMs: 0 });
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    await c.waitMessage('subscribed to: A.AAPL');
    const from = c.raw.length;
    for (const kind of ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'] as const) {
      expect(sim.sendMalformed(kind)).toBe(1);
    }
    await eventually(() => c.raw.length >= from + 4, 'four malformed frames');
    const reasons = c.raw.slice(from).map((r) => decodeServerFrame(r).rejected.map((x) => x.reason));
    expect(reasons).toEqual([['invalid_json'], ['not_an_array'], ['aggregate_bad_field_c'], ['unknown_event_type']]);
    expect(sim.stats().malformedSent).toBe(4);

    sim.setMalformedEvery(30);
    await eventually(() => sim.stats().malformedSent >= 8, 'scheduled malformed frames');
    sim.setMalformedEvery(null);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('answers malformed client frames with an error, counts them, and keeps serving', async () => {
    const sim = await start();
    const c = await authed(sim);
    c.send('not json');
    c.send({ action: 'dance', params: 'A.AAPL' });
    c.send({ action: 'subscribe', params: 42 });
    c.send('[1,2]');
    c.ws.send(Buffer.from([0xff, 0x00, 0x7b]));
    await eventually(() => c.statuses().filter((s) => s.message === 'invalid message').length === 5, 'five errors');
    expect(sim.stats().malformedClientMessages).toBe(5);
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    await c.waitMessage('subscribed to: A.AAPL');
    expect(sim.clientMessages().filter((m) => m.action === 'malformed')).toHaveLength(5);
  });

  it('closes a client that floods it with messages, when a limit is set', async () => {
    const sim = await start({ maxMessagesPerSecond: 5 });
    const c = await authed(sim);
    for (let i = 0; i < 20; i++) c.send({ action: 'subscribe', params: `A.S${i}` });
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats().floodCloses).toBe(1);
  });

  it('goes silent: no frames, no pings, no pongs, socket left open; then recovers', async () => {
    const sim = await start({ aggregateIntervalMs: 30, pingIntervalMs: 30 });
    const c = await authed(sim);
    c.send({ action: 'subscribe', params: 'A.AAPL' });
    await eventually(() => c.aggregates().length >= 2 && c.pings >= 2, 'data and pings');
    c.ws.ping();
    await eventually(() => c.pongs === 1, 'a pong while alive');

    sim.setSilent(true);
    await sleep(150); // frames already on the wire land
    const frames = c.raw.length;
    const pings = c.pings;
    c.ws.ping();
    c.send({ action: 'subscribe', params: 'A.MSFT' });
    await sleep(400);
    expect(c.raw.length).toBe(frames);
    expect(c.pings).toBe(pings);
    expect(c.pongs).toBe(1);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(sim.stats().openConnections).toBe(1);
    expect(sim.acknowledged().has('MSFT')).toBe(false);
    expect(sim.clientMessages().at(-1)?.channels).toEqual(['A.MSFT']);

    sim.setSilent(false);
    c.ws.ping();
    await eventually(() => c.pongs === 2 && c.raw.length > frames + 2, 'pongs and data again');
  });
});

describe('polygon simulator: shutdown', () => {
  it('close() closes every socket with 1001 and is idempotent', async () => {
    const sim = await startPolygonSimulator({ aggregateIntervalMs: 20, schedule1008EveryMs: 60_000 });
    const closed: string[] = [];
    sim.on('closed', (id) => closed.push(id));
    const a = await SimClient.connect(sim.url);
    const b = await SimClient.connect(sim.url);
    await a.auth();
    await b.waitMessage('Connected Successfully');
    await Promise.all([sim.close(), sim.close()]);
    expect(await a.waitClosed()).toBe(1001);
    expect(await b.waitClosed()).toBe(1001);
    expect(closed).toHaveLength(2);
    expect(sim.stats().openConnections).toBe(0);
    await expect(SimClient.connect(sim.url)).rejects.toThrow();
  });

  it('lets the process exit after close(): no timer or socket left behind', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const out = await mkdtemp(path.join(os.tmpdir(), 'sim-exit-'));
    try {
      // Run the real modules in a child process: transpile the few source folders they need.
      for (const dir of ['src/simulator', 'src/upstream', 'src/shared']) {
        for (const f of await readdir(path.join(root, dir))) {
          if (!f.endsWith('.ts')) continue;
          const src = await readFile(path.join(root, dir, f), 'utf8');
          const js = ts.transpileModule(src, {
            compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
          }).outputText;
          await mkdir(path.join(out, dir), { recursive: true });
          await writeFile(path.join(out, dir, f.replace(/\.ts$/, '.js')), js);
        }
      }
      await writeFile(path.join(out, 'package.json'), '{"type":"module"}');
      await symlink(path.join(root, 'node_modules'), path.join(out, 'node_modules'));
      await writeFile(
        path.join(out, 'child.js'),
        `
import { WebSocket } from 'ws';
import { startPolygonSimulator } from './src/simulator/polygon-simulator.js';
const sim = await startPolygonSimulator({
  aggregateIntervalMs: 20, pingIntervalMs: 30, schedule1008EveryMs: 120000, malformedEveryMs: 50,
  ackDelayMs: 120000, authTimeoutMs: 120000,
});
const open = (url) => new Promise((res, rej) => { const w = new WebSocket(url); w.on('open', () => res(w)); w.on('error', rej); });
const a = await open(sim.url);
const b = await open(sim.url); // never authenticates: its auth timer is pending
a.send(JSON.stringify({ action: 'auth', params: 'sim-key' }));
a.send(JSON.stringify({ action: 'subscribe', params: 'A.AAPL' })); // its ack is pending for 2 minutes
while (sim.stats().subscribeMessages < 1 || sim.stats().malformedSent < 1) await new Promise((r) => setTimeout(r, 10));
await sim.close();
console.log('closed');
`,
      );
      const child = spawn(process.execPath, [path.join(out, 'child.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const guard = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 30_000);
        child.on('exit', (c) => {
          clearTimeout(guard);
          resolve(c);
        });
      });
      expect(stderr).toBe('');
      expect(stdout).toContain('closed');
      expect(code, 'the child exited on its own').toBe(0);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
