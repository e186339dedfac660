import { afterEach, describe, expect, it } from 'vitest';
import {
  OBSERVED_LATENESS,
  ROBUSTNESS_FAULTS,
  startPolygonSimulator,
  type PolygonSimulator,
  type PolygonSimulatorOptions,
} from '../../src/simulator/polygon-simulator.js';
import { CHANNEL_PREFIXES, nextAuction } from '../../src/simulator/events.js';
import { eventually } from '../helpers/wait.js';
import { SimClient, type StatusLike } from './sim-client.js';

// Every channel prefix the simulator acknowledges produces data, with the provider's fields and
// value types (its WebSocket spec), windows consistent with the interval, and aggregates arriving
// the configured, jittered lateness after their window. The official client's view of the same
// events is test/conformance.

const AGG_FIELDS = ['ev', 'sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e'];

const sims: PolygonSimulator[] = [];
const clients: SimClient[] = [];

async function start(opts: PolygonSimulatorOptions = {}): Promise<PolygonSimulator> {
  const sim = await startPolygonSimulator({ aggregateIntervalMs: 50, minuteAggregateIntervalMs: 200, ...opts });
  sims.push(sim);
  return sim;
}

async function subscribed(sim: PolygonSimulator, params: string): Promise<SimClient> {
  const c = await SimClient.connect(sim.url);
  clients.push(c);
  await c.auth();
  c.send({ action: 'subscribe', params });
  const last = params.split(',').at(-1) ?? '';
  await c.waitMessage(`subscribed to: ${last}`);
  return c;
}

const ofKind = (c: SimClient, ev: string): StatusLike[] => c.events().filter((e) => e.ev === ev);
const num = (v: unknown): number => v as number;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('polygon simulator: every acknowledged prefix produces data', () => {
  it('acknowledges A, AM, T, Q, LULD and NOI, and refuses any other prefix with an error status', async () => {
    expect([...CHANNEL_PREFIXES]).toEqual(['A', 'AM', 'T', 'Q', 'LULD', 'NOI']);
    const sim = await start();
    const channels = CHANNEL_PREFIXES.map((p) => `${p}.AAPL`);
    const c = await subscribed(sim, channels.join(','));
    for (const ch of channels) expect(c.statuses().some((s) => s.message === `subscribed to: ${ch}`), ch).toBe(true);
    expect([...sim.acknowledgedChannels()].sort()).toEqual([...channels].sort());
    expect([...sim.acknowledged()]).toEqual(['AAPL']);

    c.send({ action: 'subscribe', params: 'XA.BTC-USD,FMV.AAPL' });
    await eventually(() => c.statuses().filter((s) => s.status === 'error').length === 2, 'two refusals');
    expect(c.statuses().filter((s) => s.status === 'error').map((s) => s.message)).toEqual([
      'invalid channel: XA.BTC-USD',
      'invalid channel: FMV.AAPL',
    ]);
    expect(sim.acknowledgedChannels().has('FMV.AAPL')).toBe(false);

    await eventually(
      () => ['A', 'AM', 'T', 'Q', 'LULD', 'NOI'].every((ev) => ofKind(c, ev).length > 0),
      'an event of every kind',
    );
    const st = sim.stats();
    for (const k of ['aggregatesSent', 'minuteAggregatesSent', 'tradesSent', 'quotesSent', 'luldSent', 'imbalancesSent'] as const) {
      expect(st[k], k).toBeGreaterThan(0);
    }
  });

  it('sends A windows of exactly one second on the whole-second grid at the default interval', async () => {
    const sim = await startPolygonSimulator({});
    sims.push(sim);
    const c = await subscribed(sim, 'A.AAPL');
    await eventually(() => c.aggregates().length >= 1, 'an A event', 15_000);
    const [a] = c.aggregates();
    expect(num(a?.e) - num(a?.s)).toBe(1000);
    expect(num(a?.e) % 1000).toBe(0);
  });

  it('folds the seconds of a minute into AM: e - s is the minute interval, o/c/h/l/v/av agree with the A windows', async () => {
    const sim = await start();
    const c = await subscribed(sim, 'A.MSFT,AM.MSFT');
    const seconds = () => ofKind(c, 'A');
    // An AM whose whole minute the A stream covered (the first one may start before the subscription).
    const full = () =>
      ofKind(c, 'AM').find((m) => seconds().filter((a) => num(a.s) >= num(m.s) && num(a.e) <= num(m.e)).length === 4);
    const am = await eventually(full, 'a fully covered AM window');
    expect(Object.keys(am).sort()).toEqual([...AGG_FIELDS].sort());
    expect(am.ev).toBe('AM');
    expect(num(am.e) - num(am.s)).toBe(200);
    expect(num(am.e) % 200).toBe(0);
    const inside = seconds().filter((a) => num(a.s) >= num(am.s) && num(a.e) <= num(am.e));
    expect(inside.map((a) => num(a.e) - num(a.s))).toEqual([50, 50, 50, 50]);
    expect(am.o).toBe(inside[0]?.o);
    expect(am.c).toBe(inside[3]?.c);
    expect(am.h).toBe(Math.max(...inside.map((a) => num(a.h))));
    expect(am.l).toBe(Math.min(...inside.map((a) => num(a.l))));
    expect(am.v).toBe(inside.reduce((sum, a) => sum + num(a.v), 0));
    expect(am.av).toBe(inside[3]?.av);
    expect(am.op).toBe(inside[0]?.op);
    // Consecutive minutes tile time.
    const ams = ofKind(c, 'AM');
    for (let i = 1; i < ams.length; i++) expect(ams[i]?.s).toBe(ams[i - 1]?.e);
  });

  it("sends T trades that add up to the window's A: sizes sum to v, first at o, last at c, inside [s, e)", async () => {
    const sim = await start();
    const c = await subscribed(sim, 'A.NVDA,T.NVDA');
    await eventually(() => ofKind(c, 'A').length >= 4, 'A windows');
    const trades = ofKind(c, 'T');
    let checked = 0;
    for (const a of ofKind(c, 'A')) {
      const mine = trades.filter((t) => num(t.t) >= num(a.s) && num(t.t) < num(a.e));
      if (mine.length === 0) continue; // the window closed before the T subscription was applied
      checked++;
      expect(mine.reduce((sum, t) => sum + num(t.s), 0)).toBe(a.v);
      expect(mine[0]?.p).toBe(a.o);
      expect(mine.at(-1)?.p).toBe(a.c);
      for (const t of mine) {
        expect(num(t.p)).toBeGreaterThanOrEqual(num(a.l));
        expect(num(t.p)).toBeLessThanOrEqual(num(a.h));
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3);
    // The provider's spec: x integer exchange id, i string trade id, z tape 1..3, c integer array, q increasing.
    for (const t of trades) {
      expect(Object.keys(t).sort()).toEqual(['c', 'ev', 'i', 'p', 'q', 's', 'sym', 't', 'x', 'z']);
      expect(Number.isInteger(t.x)).toBe(true);
      expect(typeof t.i).toBe('string');
      expect([1, 2, 3]).toContain(t.z);
      expect(Array.isArray(t.c)).toBe(true);
      expect(Number.isInteger(t.s) && num(t.s) > 0).toBe(true);
    }
    const seqs = trades.map((t) => num(t.q));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? 0);
  });

  it('sends Q quotes that bracket the close of their window, sizes in round lots', async () => {
    const sim = await start();
    const c = await subscribed(sim, 'A.AMD,Q.AMD');
    await eventually(() => ofKind(c, 'Q').length >= 3 && ofKind(c, 'A').length >= 3, 'quotes and aggregates');
    for (const q of ofKind(c, 'Q')) {
      expect(Object.keys(q).sort()).toEqual(['ap', 'as', 'ax', 'bp', 'bs', 'bx', 'c', 'ev', 'i', 'q', 'sym', 't', 'z']);
      expect(num(q.bp)).toBeLessThan(num(q.ap));
      for (const f of ['bx', 'ax', 'bs', 'as', 'c', 'z', 't', 'q']) expect(Number.isInteger(q[f]), f).toBe(true);
      expect(Array.isArray(q.i)).toBe(true);
      const a = ofKind(c, 'A').find((x) => num(q.t) >= num(x.s) && num(q.t) < num(x.e));
      if (a) {
        expect(num(q.bp)).toBeLessThanOrEqual(num(a.c));
        expect(num(q.ap)).toBeGreaterThanOrEqual(num(a.c));
      }
    }
  });

  it('sends LULD bands and NOI imbalances with the spec fields (the ticker in T, not sym)', async () => {
    const sim = await start();
    const c = await subscribed(sim, 'LULD.TSLA,NOI.TSLA');
    await eventually(() => ofKind(c, 'LULD').length >= 1 && ofKind(c, 'NOI').length >= 1, 'a band and an imbalance');
    const [band] = ofKind(c, 'LULD');
    expect(Object.keys(band ?? {}).sort()).toEqual(['T', 'ev', 'h', 'i', 'l', 'q', 't', 'z']);
    expect(band?.T).toBe('TSLA');
    expect(num(band?.h)).toBeGreaterThan(num(band?.l));
    expect(Array.isArray(band?.i)).toBe(true);
    const [noi] = ofKind(c, 'NOI');
    expect(Object.keys(noi ?? {}).sort()).toEqual(['T', 'a', 'at', 'b', 'ev', 'i', 'o', 'p', 't', 'x']);
    expect(noi?.T).toBe('TSLA');
    expect(['M', 'C']).toContain(noi?.a);
    expect([930, 1600]).toContain(noi?.at);
    for (const f of ['t', 'at', 'i', 'x', 'o', 'p']) expect(Number.isInteger(noi?.[f]), f).toBe(true);
    // No A, AM, T or Q was asked for, so none came.
    expect(c.events().filter((e) => e.ev !== 'status' && e.ev !== 'LULD' && e.ev !== 'NOI')).toEqual([]);
  });

  it('names the next auction in Eastern time: the open before 9:30, else the close', () => {
    // 2024-01-10 14:00 UTC = 09:00 EST; 15:00 UTC = 10:00 EST.
    expect(nextAuction(Date.UTC(2024, 0, 10, 14, 0))).toEqual({ at: 930, a: 'M' });
    expect(nextAuction(Date.UTC(2024, 0, 10, 15, 0))).toEqual({ at: 1600, a: 'C' });
  });

  it('streams the universe to X.* for every prefix, and stops a channel on unsubscribe', async () => {
    const sim = await start({ universe: ['AAPL', 'MSFT'] });
    const c = await subscribed(sim, 'T.*,Q.*');
    await eventually(
      () => new Set(ofKind(c, 'T').map((t) => t.sym)).size === 2 && new Set(ofKind(c, 'Q').map((q) => q.sym)).size === 2,
      'trades and quotes of both universe symbols',
    );
    c.send({ action: 'unsubscribe', params: 'T.*' });
    await c.waitMessage('unsubscribed to: T.*');
    const from = c.frames.length;
    const quotesBefore = ofKind(c, 'Q').length;
    await eventually(() => ofKind(c, 'Q').length >= quotesBefore + 6, 'more quotes');
    const after = c.frames.slice(from).flatMap((f) => (Array.isArray(f) ? (f as StatusLike[]) : []));
    expect(after.some((e) => e.ev === 'T')).toBe(false);
    expect(sim.acknowledgedChannels()).toEqual(new Set(['Q.*']));
  });
});

describe('polygon simulator: lateness', () => {
  it('delivers aggregates between e + minMs and e + maxMs, jittered, in window order; trades at once', async () => {
    const sim = await start({ aggregateIntervalMs: 100, minuteAggregateIntervalMs: 0, lateness: { minMs: 250, maxMs: 600 } });
    const c = await subscribed(sim, 'A.AAPL,T.AAPL');
    const arrivals: { ev: string; e: number; at: number }[] = [];
    c.ws.on('message', (data) => {
      const at = Date.now();
      const frame = JSON.parse(data.toString()) as StatusLike[];
      for (const ev of frame) if (ev.ev === 'A') arrivals.push({ ev: 'A', e: num(ev.e), at });
    });
    await eventually(() => arrivals.length >= 10, 'ten late windows', 30_000);
    const late = arrivals.map((x) => x.at - x.e);
    // Timers never fire early; on a busy machine they may fire well after their time.
    for (const l of late) expect(l).toBeGreaterThanOrEqual(250 - 5);
    expect(Math.min(...late)).toBeLessThan(600 + 2000);
    expect(Math.max(...late) - Math.min(...late)).toBeGreaterThan(20);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]?.e).toBeGreaterThan(arrivals[i - 1]?.e ?? 0);
    // The trades of a window came before its aggregate.
    const firstA = ofKind(c, 'A')[0];
    const indexOf = (pred: (e: StatusLike) => boolean) => c.events().findIndex(pred);
    const tradeOfFirst = indexOf((e) => e.ev === 'T' && num(e.t) >= num(firstA?.s) && num(e.t) < num(firstA?.e));
    if (tradeOfFirst >= 0) expect(tradeOfFirst).toBeLessThan(indexOf((e) => e === firstA));
  });

  it('offers the observed lateness as a constant, and refuses a reversed or negative range', async () => {
    expect(OBSERVED_LATENESS).toEqual({ minMs: 1000, maxMs: 2000 });
    await expect(startPolygonSimulator({ lateness: { minMs: 500, maxMs: 100 } })).rejects.toThrow(RangeError);
    await expect(startPolygonSimulator({ lateness: { minMs: -1, maxMs: 100 } })).rejects.toThrow(RangeError);
  });
});

describe('polygon simulator: strict provider mode', () => {
  it('refuses every robustness fault, at construction and at run time', async () => {
    expect([...ROBUSTNESS_FAULTS]).toEqual(['malformedEveryMs', 'dropAckProbability', 'maxMessagesPerSecond']);
    await expect(startPolygonSimulator({ strictProvider: true, malformedEveryMs: 100 })).rejects.toThrow(/strictProvider/);
    await expect(startPolygonSimulator({ strictProvider: true, dropAckProbability: 0.1 })).rejects.toThrow(/strictProvider/);
    await expect(startPolygonSimulator({ strictProvider: true, maxMessagesPerSecond: 5 })).rejects.toThrow(/strictProvider/);

    const sim = await start({ strictProvider: true });
    expect(sim.isStrictProvider()).toBe(true);
    expect(() => sim.sendMalformed('invalid_json')).toThrow(/strictProvider/);
    expect(() => sim.setMalformedEvery(50)).toThrow(/strictProvider/);
    expect(() => sim.dropAcks(0.5)).toThrow(/strictProvider/);
    expect(() => sim.setMaxMessagesPerSecond(3)).toThrow(/strictProvider/);
    // Turning them off is no fault.
    sim.setMalformedEvery(null);
    sim.dropAcks(0);
    sim.setMaxMessagesPerSecond(0);
    expect(sim.stats().malformedSent).toBe(0);
  });

  it("keeps the real server's behaviour: data, slow acks, max_connections kicks and 1008 closes", async () => {
    const sim = await start({ strictProvider: true, ackDelayMs: 50 });
    const a = await subscribed(sim, 'A.AAPL,AM.AAPL');
    await eventually(() => ofKind(a, 'A').length >= 2 && ofKind(a, 'AM').length >= 1, 'data in strict mode');
    const b = await SimClient.connect(sim.url);
    clients.push(b);
    await b.auth();
    await a.waitStatus((s) => s.status === 'max_connections', 'max_connections');
    expect(await a.waitClosed()).toBe(1008);
    expect(sim.close1008('all')).toBe(1);
    expect(await b.waitClosed()).toBe(1008);
  });
});
