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
  SHUTDOWN_CLOSE_CODE,
  startPolygonSimulator,
  type PolygonSimulator,
  type PolygonSimulatorOptions,
  type Schedule1008Range,
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

/**
 * Waits until the server's own timers have run `ms` past now, instead of sleeping: a witness
 * connection (its own key) set to die young after `ms` is closed by a server timer, and timers
 * fire in the order they are due, so a fault due before it would have struck first.
 */
async function serverTimePassed(sim: PolygonSimulator, ms: number): Promise<void> {
  sim.setDieYoung(ms);
  const witness = await authed(sim, 'witness');
  sim.setDieYoung(null);
  expect(await witness.waitClosed()).toBe(1008);
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

  it("greets with the spec's `success` variant of the first status when asked, and switches at runtime", async () => {
    const sim = await start({ firstStatus: 'success' });
    const c = await connect(sim);
    await eventually(() => c.raw.length > 0, 'first frame');
    expect(JSON.parse(c.raw[0] ?? '')).toEqual([{ ev: 'status', status: 'success', message: 'Connected Successfully' }]);
    expect(JSON.parse(c.raw[0] ?? '')).toEqual([serverEvents.connectedSuccess()]);
    expect(decodeServerFrame(c.raw[0] ?? '').rejected).toEqual([]);
    await c.auth();
    expect(sim.stats()).toMatchObject({ successGreetings: 1, authSuccess: 1 });

    sim.setFirstStatus('connected');
    const d = await connect(sim);
    await eventually(() => d.raw.length > 0, 'first frame');
    expect(JSON.parse(d.raw[0] ?? '')).toEqual([serverEvents.connected()]);
    expect(sim.stats().successGreetings).toBe(1);
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
    // The codec reads the ack the way the client will (an aggregate frame may have followed it).
    const ackRaw = c.raw[c.frames.indexOf(ackFrames[0])] ?? '';
    const decoded = decodeServerFrame(ackRaw);
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
      // The window an event claims is the one it was built from: the tick's interval (50 ms here, 1000 by default).
      expect((a.e as number) - (a.s as number)).toBe(50);
      expect((a.e as number) % 50).toBe(0);
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
    const sim = await start({ schedule1008EveryMs: 100, apiKeys: ['sim-key', 'witness'] });
    const c = await authed(sim);
    expect(await c.waitClosed()).toBe(1008);
    expect(c.closeReason).toBe('policy violation');
    await eventually(() => (sim.stats().closesByCode['1008'] ?? 0) >= 1, '1008 counted');
    expect(sim.stats().scheduled1008Closes).toBeGreaterThanOrEqual(1);
    sim.setSchedule1008(null);
    const d = await authed(sim);
    await serverTimePassed(sim, 400);
    expect(d.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('storms with bare 1008 closes after gaps drawn within a range, until the storm is stopped', async () => {
    const minMs = 150;
    const maxMs = 300;
    const sim = await start({ schedule1008EveryMs: { minMs, maxMs }, apiKeys: ['sim-key', 'witness'] });
    const closes: { at: number; code: number; reason: string }[] = [];
    sim.on('closed', (_id, code, at, reason) => closes.push({ at, code, reason }));
    // Reconnects and authenticates the moment a socket closes (auth on open, as the official JS and
    // Go clients do), so that every scheduled close finds a connection to close.
    let reconnect = true;
    const sockets: WebSocket[] = [];
    const frames: string[] = [];
    const open = () => {
      const ws = new WebSocket(sim.url);
      sockets.push(ws);
      ws.on('open', () => ws.send(JSON.stringify({ action: 'auth', params: 'sim-key' })));
      ws.on('message', (data) => frames.push(data.toString()));
      ws.on('error', () => undefined);
      ws.on('close', () => {
        if (reconnect) open();
      });
    };
    try {
      open();
      await eventually(() => closes.length >= 6, 'six scheduled closes');
    } finally {
      reconnect = false;
      sim.setSchedule1008(null);
    }
    for (const c of closes) expect(c).toMatchObject({ code: 1008, reason: 'policy violation' });
    // Bare closes: no status ever told a client why.
    const statuses = frames.flatMap((f) => decodeServerFrame(f).statuses.map((st) => st.status));
    expect(new Set(statuses)).toEqual(new Set(['connected', 'auth_success']));
    const gaps = closes.slice(1).map((c, i) => c.at - (closes[i]?.at ?? 0));
    // A timer never fires early and each gap is drawn when the previous close fired; the slack
    // covers a late close handshake, and generously a busy machine.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(minMs - 60);
      expect(gap).toBeLessThanOrEqual(maxMs + 500);
    }
    // Drawn anew each time, not a fixed interval (seed 42 draws gaps from 160 to 290 ms).
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(40);
    await eventually(() => sim.stats().scheduled1008Closes === closes.length, 'every scheduled close counted');
    expect(sim.stats().closesByCode['1008']).toBe(closes.length);

    for (const ws of sockets) ws.terminate();
    await eventually(() => sockets.every((ws) => ws.readyState === WebSocket.CLOSED), 'storm sockets closed');
    const c = await authed(sim);
    await serverTimePassed(sim, 2 * maxMs + 100);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("draws the storm's gaps from a stream of their own: a seed loses the same acks with or without a storm", async () => {
    const lostAcks = async (storm: Schedule1008Range | null) => {
      const sim = await start({ seed: 7, dropAckProbability: 0.5, schedule1008EveryMs: storm });
      const c = await authed(sim);
      const batch = (from: number) => Array.from({ length: 20 }, (_, i) => `A.S${from + i}`).join(',');
      c.send({ action: 'subscribe', params: batch(0) });
      await eventually(() => sim.stats().acksSent + sim.stats().acksDropped === 20, 'first batch acked or lost');
      // Each arming draws a gap: far away, so no close happens, but the storm's stream moves on.
      if (storm) for (let i = 0; i < 5; i++) sim.setSchedule1008(storm);
      c.send({ action: 'subscribe', params: batch(20) });
      await eventually(() => sim.stats().acksSent + sim.stats().acksDropped === 40, 'second batch acked or lost');
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      const acked = sim.acknowledged();
      return [...sim.subscriptions()].filter((s) => !acked.has(s)).sort();
    };
    const calm = await lostAcks(null);
    const stormy = await lostAcks({ minMs: 60_000, maxMs: 120_000 });
    expect(calm.length).toBeGreaterThan(0);
    expect(calm.length).toBeLessThan(40);
    expect(stormy).toEqual(calm);
  });

  it('refuses a storm range that is reversed, starts at zero or is not a number', async () => {
    await expect(startPolygonSimulator({ schedule1008EveryMs: { minMs: 300, maxMs: 150 } })).rejects.toThrow(RangeError);
    const sim = await start();
    expect(() => sim.setSchedule1008({ minMs: 0, maxMs: 100 })).toThrow(RangeError);
    expect(() => sim.setSchedule1008({ minMs: Number.NaN, maxMs: 100 })).toThrow(RangeError);
  });

  it('lets connections die young: a bare 1008 that long after auth_success, for those authenticated from then on', async () => {
    const sim = await start({ apiKeys: ['k1', 'k2', 'k3', 'witness'], dieYoungAfterMs: 200 });
    const authAt = new Map<string, number>();
    const closedAt = new Map<string, { at: number; code: number; reason: string }>();
    sim.on('authenticated', (id, at) => authAt.set(id, at));
    sim.on('closed', (id, code, at, reason) => closedAt.set(id, { at, code, reason }));

    const a = await authed(sim, 'k1');
    expect(await a.waitClosed()).toBe(1008);
    expect(a.closeReason).toBe('policy violation');
    expect(a.statuses().map((st) => st.status)).toEqual(['connected', 'auth_success']);
    const idA = sim.connections()[0]?.id ?? '';
    await eventually(() => closedAt.get(idA), 'closed event');
    const lived = (closedAt.get(idA)?.at ?? 0) - (authAt.get(idA) ?? 0);
    expect(lived).toBeGreaterThanOrEqual(190);
    expect(lived).toBeLessThan(200 + 3000);
    expect(closedAt.get(idA)).toMatchObject({ code: 1008, reason: 'policy violation' });

    sim.setDieYoung(null);
    const b = await authed(sim, 'k2');
    sim.setDieYoung(150);
    const c = await authed(sim, 'k3');
    expect(await c.waitClosed()).toBe(1008);
    // b authenticated while no age limit was set: it outlives both limits (and the witness's).
    await serverTimePassed(sim, 400);
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
    // a, c and the witness.
    expect(sim.stats()).toMatchObject({ youngDeaths: 3, closesByCode: { '1008': 3 } });
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

  it('closes with a bare 1008 a client that floods it with subscribe messages, the excess unapplied', async () => {
    const sim = await start({ maxMessagesPerSecond: 5 });
    const reasons: string[] = [];
    sim.on('closed', (_id, code, _at, reason) => reasons.push(`${code} ${reason}`));
    const c = await authed(sim);
    const id = sim.liveConnectionId();
    for (let i = 0; i < 20; i++) c.send({ action: 'subscribe', params: `A.S${i}` });
    expect(await c.waitClosed()).toBe(1008);
    expect(c.closeReason).toBe('policy violation');
    // Nothing but the acks of the five messages within the limit: no status says why.
    const allowed = ['S0', 'S1', 'S2', 'S3', 'S4'];
    expect(c.statuses().map((st) => st.message)).toEqual([
      'Connected Successfully',
      'authenticated',
      ...allowed.map((s) => `subscribed to: A.${s}`),
    ]);
    expect([...sim.subscriptions(id)].sort()).toEqual(allowed);
    expect([...sim.acknowledged(id)].sort()).toEqual(allowed);
    expect(sim.stats()).toMatchObject({ floodCloses: 1, subscribeMessages: 5, channelsSubscribed: 5 });
    await eventually(() => reasons.length === 1, 'closed event');
    expect(reasons).toEqual(['1008 policy violation']);

    // 0 lifts the limit at runtime.
    sim.setMaxMessagesPerSecond(0);
    const d = await authed(sim);
    for (let i = 0; i < 20; i++) d.send({ action: 'subscribe', params: `A.S${i}` });
    await d.waitMessage('subscribed to: A.S19');
    expect(d.ws.readyState).toBe(WebSocket.OPEN);
    expect(sim.stats().floodCloses).toBe(1);
  });

  it('counts only subscribe/unsubscribe messages against the limit, set at runtime, over the last 1000 ms', async () => {
    const sim = await start();
    sim.setMaxMessagesPerSecond(2);
    const c = await authed(sim);
    const id = sim.liveConnectionId();
    // Auth (again) and malformed frames are no control messages: they never count.
    for (let i = 0; i < 3; i++) c.send({ action: 'auth', params: 'sim-key' });
    for (let i = 0; i < 3; i++) c.send('not json');
    c.send({ action: 'subscribe', params: 'A.S1' });
    c.send({ action: 'subscribe', params: 'A.S2' });
    await c.waitMessage('subscribed to: A.S2');
    expect(c.statuses().filter((st) => st.message === 'invalid message')).toHaveLength(3);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);

    // Both left the window well over a second ago (they reached the server before their acks came back).
    await sleep(1100);
    c.send({ action: 'subscribe', params: 'A.S3' });
    await c.waitMessage('subscribed to: A.S3');
    c.send({ action: 'unsubscribe', params: 'A.S3' });
    await c.waitMessage('unsubscribed to: A.S3');
    c.send({ action: 'subscribe', params: 'A.S4' });
    expect(await c.waitClosed()).toBe(1008);
    expect(c.closeReason).toBe('policy violation');
    expect(c.statuses().filter((st) => st.status === 'error').map((st) => st.message)).toEqual(Array(3).fill('invalid message'));
    expect(c.statuses().some((st) => st.message === 'subscribed to: A.S4')).toBe(false);
    expect([...sim.subscriptions(id)].sort()).toEqual(['S1', 'S2']);
    expect(sim.stats()).toMatchObject({ floodCloses: 1, subscribeMessages: 3, unsubscribeMessages: 1 });
  });

  it('slides its one-second window: a burst that straddles a fresh second is still caught', async () => {
    const sim = await start({ maxMessagesPerSecond: 2 });
    const c = await authed(sim);
    const id = sim.liveConnectionId();
    c.send({ action: 'subscribe', params: 'A.S1' });
    await c.waitMessage('subscribed to: A.S1');
    await sleep(700);
    c.send({ action: 'subscribe', params: 'A.S2' });
    await c.waitMessage('subscribed to: A.S2');
    await sleep(400);
    // S1 is over a second old, S2 some 400 ms: S3 makes two within the last second, S4 three. A
    // window restarted at S3 (over a second after S1) would have let S4 through.
    c.send({ action: 'subscribe', params: 'A.S3' });
    c.send({ action: 'subscribe', params: 'A.S4' });
    expect(await c.waitClosed()).toBe(1008);
    expect([...sim.subscriptions(id)].sort()).toEqual(['S1', 'S2', 'S3']);
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
  it('close() closes every socket with 1012 (service restart: the official clients reconnect) and is idempotent', async () => {
    const sim = await startPolygonSimulator({ aggregateIntervalMs: 20, schedule1008EveryMs: 60_000 });
    const closed: string[] = [];
    const reasons = new Set<string>();
    sim.on('closed', (id, _code, _at, reason) => {
      closed.push(id);
      reasons.add(reason);
    });
    const a = await SimClient.connect(sim.url);
    const b = await SimClient.connect(sim.url);
    await a.auth();
    await b.waitMessage('Connected Successfully');
    await Promise.all([sim.close(), sim.close()]);
    expect(SHUTDOWN_CLOSE_CODE).toBe(1012);
    expect(await a.waitClosed()).toBe(SHUTDOWN_CLOSE_CODE);
    expect(await b.waitClosed()).toBe(SHUTDOWN_CLOSE_CODE);
    expect(closed).toHaveLength(2);
    expect([...reasons]).toEqual(['server shutting down']);
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
  ackDelayMs: 120000, authTimeoutMs: 120000, maxMessagesPerSecond: 10,
});
// The jittered storm's and the young deaths' timers, pending too.
const sim2 = await startPolygonSimulator({
  aggregateIntervalMs: 0, schedule1008EveryMs: { minMs: 120000, maxMs: 130000 }, dieYoungAfterMs: 120000,
});
// Aggregates held back by a two-minute lateness: a pending delivery, and the market's own tick.
const sim3 = await startPolygonSimulator({
  aggregateIntervalMs: 20, minuteAggregateIntervalMs: 40, lateness: { minMs: 120000, maxMs: 120000 },
});
const open = (url) => new Promise((res, rej) => { const w = new WebSocket(url); w.on('open', () => res(w)); w.on('error', rej); });
const a = await open(sim.url);
const b = await open(sim.url); // never authenticates: its auth timer is pending
a.send(JSON.stringify({ action: 'auth', params: 'sim-key' }));
a.send(JSON.stringify({ action: 'subscribe', params: 'A.AAPL' })); // its ack is pending for 2 minutes
const y = await open(sim2.url);
y.send(JSON.stringify({ action: 'auth', params: 'sim-key' }));
const l = await open(sim3.url);
l.send(JSON.stringify({ action: 'auth', params: 'sim-key' }));
l.send(JSON.stringify({ action: 'subscribe', params: 'A.AAPL,AM.AAPL,T.AAPL' }));
while (
  sim.stats().subscribeMessages < 1 || sim.stats().malformedSent < 1 || sim2.stats().authSuccess < 1 ||
  sim3.stats().tradesSent < 3
) {
  await new Promise((r) => setTimeout(r, 10));
}
await Promise.all([sim.close(), sim2.close(), sim3.close()]);
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
