import { afterEach, describe, expect, it } from 'vitest';
import type {
  IAggregateStockEvent,
  ILULDStockEvent,
  INOIStockEvent,
  IQuoteStockEvent,
  ITradeStockEvent,
} from '@massive.com/client-js';
import {
  OBSERVED_LATENESS,
  SHUTDOWN_CLOSE_CODE,
  startPolygonSimulator,
  type PolygonSimulator,
  type PolygonSimulatorOptions,
} from '../../src/simulator/polygon-simulator.js';
import { eventually } from '../helpers/wait.js';
import { declaredFields, declaredFieldTypes } from './client-types.js';
import { OPEN, OfficialClient, apiBaseOf, type WireEvent } from './official-client.js';

// The provider's official JS client (@massive.com/client-js), not ours, judges the simulator: it
// connects with its own code, authenticates its own way, and the events it receives must carry
// every field its own types declare. The simulator runs in strict provider mode throughout: what
// the client meets here is only what the real server is documented or observed to do.

/**
 * The client's declared fields, spelled out so that tsc fails if the client's types gain or lose
 * one (Record<keyof T, true> needs every key and allows no other); the test checks that these
 * agree with what the .d.ts parser reads.
 */
const AGGREGATE: Record<keyof IAggregateStockEvent, true> = {
  ev: true, sym: true, v: true, av: true, op: true, vw: true, o: true, c: true, h: true, l: true, a: true, z: true, s: true, e: true,
};
const TRADE: Record<keyof ITradeStockEvent, true> = { ev: true, sym: true, x: true, i: true, z: true, p: true, s: true, c: true, t: true };
const QUOTE: Record<keyof IQuoteStockEvent, true> = {
  ev: true, sym: true, bx: true, bp: true, bs: true, ax: true, ap: true, as: true, c: true, t: true, z: true,
};
const LULD: Record<keyof ILULDStockEvent, true> = { ev: true, T: true, h: true, l: true, i: true, z: true, t: true, q: true };
const NOI: Record<keyof INOIStockEvent, true> = { ev: true, T: true, t: true, at: true, a: true, i: true, x: true, o: true, p: true, b: true };

/**
 * Where the client's declared type contradicts the provider's WebSocket spec (and the spec's own
 * examples), the simulator sends the spec's type: it imitates the server, and nothing checks the
 * client's types at run time. Each entry: field → the spec's type.
 */
const SPEC_OVERRIDES: Record<string, Record<string, string>> = {
  ITradeStockEvent: { x: 'number', i: 'string' },
  IQuoteStockEvent: { bx: 'number', ax: 'number' },
  ILULDStockEvent: { i: 'number[]' },
  INOIStockEvent: { x: 'number' },
};

const wireType = (v: unknown): string =>
  Array.isArray(v) ? (v.every((x) => typeof x === 'number') ? 'number[]' : 'array') : typeof v;

/** Every field the client declares is there, with the declared type (or the spec's, where they disagree). */
function expectConforms(event: WireEvent, typeName: string): void {
  const declared = declaredFieldTypes(typeName);
  const overrides = SPEC_OVERRIDES[typeName] ?? {};
  for (const [field, type] of Object.entries(declared)) {
    expect(Object.keys(event), `${typeName}.${field} present`).toContain(field);
    expect(wireType(event[field]), `${typeName}.${field}: ${JSON.stringify(event[field])}`).toBe(overrides[field] ?? type);
    if (typeof event[field] === 'number') expect(Number.isFinite(event[field]), `${typeName}.${field} finite`).toBe(true);
  }
}

const sims: PolygonSimulator[] = [];
const clients: OfficialClient[] = [];

async function start(opts: PolygonSimulatorOptions = {}): Promise<PolygonSimulator> {
  const sim = await startPolygonSimulator({ strictProvider: true, aggregateIntervalMs: 100, minuteAggregateIntervalMs: 400, ...opts });
  sims.push(sim);
  return sim;
}

function official(sim: PolygonSimulator, apiKey = 'sim-key', beforeOpen?: ConstructorParameters<typeof OfficialClient>[2]): OfficialClient {
  const c = new OfficialClient(apiKey, apiBaseOf(sim), beforeOpen);
  clients.push(c);
  return c;
}

async function subscribedClient(sim: PolygonSimulator, params: string): Promise<OfficialClient> {
  const c = official(sim);
  await c.waitAuthenticated();
  c.send('subscribe', params);
  for (const ch of params.split(',')) await c.waitStatus((s) => s.message === `subscribed to: ${ch}`, `ack of ${ch}`);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('the official JS client against the simulator', () => {
  it("reads the client's declared event fields from its own .d.ts, and they match the lists tsc checks", () => {
    expect(declaredFields('IAggregateStockEvent').sort()).toEqual(Object.keys(AGGREGATE).sort());
    expect(declaredFields('ITradeStockEvent').sort()).toEqual(Object.keys(TRADE).sort());
    expect(declaredFields('IQuoteStockEvent').sort()).toEqual(Object.keys(QUOTE).sort());
    expect(declaredFields('ILULDStockEvent').sort()).toEqual(Object.keys(LULD).sort());
    expect(declaredFields('INOIStockEvent').sort()).toEqual(Object.keys(NOI).sort());
    // Each override is a real disagreement: if the client fixes its types, the entry must go.
    for (const [typeName, fields] of Object.entries(SPEC_OVERRIDES)) {
      const declared = declaredFieldTypes(typeName);
      for (const [field, specType] of Object.entries(fields)) expect(declared[field], `${typeName}.${field}`).not.toBe(specType);
    }
  });

  it.each(['connected', 'success'] as const)(
    'authenticates with the client\'s own auth (first status "%s"): auth_success, and the key on record',
    async (firstStatus) => {
      const sim = await start({ firstStatus, apiKeys: ['official-key'] });
      const c = official(sim, 'official-key');
      await c.waitAuthenticated();
      const statuses = c.statuses();
      expect(statuses[0]).toMatchObject({ status: firstStatus, message: 'Connected Successfully' });
      expect(statuses[1]).toEqual({ ev: 'status', status: 'auth_success', message: 'authenticated' });
      expect(sim.connections()).toMatchObject([{ authenticated: true, apiKey: 'official-key' }]);
      // Exactly what the client sent: one auth message, on its own, as soon as the socket opened.
      expect(sim.clientMessages().map((m) => m.action)).toEqual(['auth']);
      expect(c.ws.readyState).toBe(OPEN);
    },
  );

  it('refuses a wrong key: auth_failed, then a 1008 close the client sees', async () => {
    const sim = await start({ apiKeys: ['the-right-key'] });
    const c = official(sim, 'a-wrong-key');
    await c.waitStatus((s) => s.status === 'auth_failed', 'auth_failed');
    expect(c.statuses().at(-1)).toEqual({ ev: 'status', status: 'auth_failed', message: 'authentication failed' });
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.stats()).toMatchObject({ authFailed: 1, authSuccess: 0 });
  });

  it('streams A and AM events carrying exactly the fields IAggregateStockEvent declares, late as the real server', async () => {
    const sim = await start({ lateness: OBSERVED_LATENESS });
    const c = await subscribedClient(sim, 'A.AAPL,AM.AAPL');
    await eventually(() => c.events('A').length >= 3 && c.events('AM').length >= 1, 'A and AM events', 30_000);
    const fields = declaredFields('IAggregateStockEvent').sort();
    for (const ev of [...c.events('A'), ...c.events('AM')]) {
      // Every declared field, and nothing else (`otc` appears only for OTC tickers).
      expect(Object.keys(ev).sort()).toEqual(fields);
      expectConforms(ev, 'IAggregateStockEvent');
      expect(ev.sym).toBe('AAPL');
    }
    for (const a of c.events('A')) expect((a.e as number) - (a.s as number)).toBe(100);
    for (const m of c.events('AM')) expect((m.e as number) - (m.s as number)).toBe(400);
    // Delivered a second or two after the window's end, never before its minimum.
    for (const r of c.received.filter((x) => x.event.ev === 'A')) {
      expect(r.at - (r.event.e as number)).toBeGreaterThanOrEqual(OBSERVED_LATENESS.minMs - 5);
    }
  });

  it("streams T, Q, LULD and NOI events carrying every field the client's types declare", async () => {
    const sim = await start();
    const c = await subscribedClient(sim, 'T.MSFT,Q.MSFT,LULD.MSFT,NOI.MSFT');
    await eventually(
      () => ['T', 'Q', 'LULD', 'NOI'].every((ev) => c.events(ev).length > 0),
      'an event of each kind',
      30_000,
    );
    const typeOf: Record<string, string> = { T: 'ITradeStockEvent', Q: 'IQuoteStockEvent', LULD: 'ILULDStockEvent', NOI: 'INOIStockEvent' };
    for (const [ev, typeName] of Object.entries(typeOf)) {
      for (const event of c.events(ev)) expectConforms(event, typeName);
    }
  });

  it('stops the data of a channel once its unsubscribe is acknowledged, and only of that channel', async () => {
    const sim = await start({ lateness: OBSERVED_LATENESS });
    const c = await subscribedClient(sim, 'A.AAPL,A.MSFT');
    await eventually(
      () => c.events('A').some((a) => a.sym === 'AAPL') && c.events('A').some((a) => a.sym === 'MSFT'),
      'data for both',
      30_000,
    );
    c.send('unsubscribe', 'A.AAPL');
    const ack = await c.waitStatus((s) => s.message === 'unsubscribed to: A.AAPL', 'unsubscribe ack');
    expect(ack).toEqual({ ev: 'status', status: 'success', message: 'unsubscribed to: A.AAPL' });
    const ackIndex = c.events().indexOf(ack);
    // Windows that closed before the ack but were still held back by the lateness come after it:
    // none of them may carry AAPL.
    await eventually(() => c.events().slice(ackIndex).filter((e) => e.ev === 'A' && e.sym === 'MSFT').length >= 5, 'MSFT goes on', 30_000);
    expect(c.events().slice(ackIndex).filter((e) => e.sym === 'AAPL')).toEqual([]);
    expect([...sim.acknowledged()]).toEqual(['MSFT']);
  });

  it('kicks the older of two clients on one key with max_connections, then a 1008 close', async () => {
    const sim = await start();
    const first = official(sim);
    await first.waitAuthenticated();
    const second = official(sim);
    await second.waitAuthenticated();
    const kick = await first.waitStatus((s) => s.status === 'max_connections', 'max_connections on the older client');
    expect(kick.message).toMatch(/^Maximum number of websocket connections exceeded/);
    expect(await first.waitClosed()).toBe(1008);
    expect(second.statuses().some((s) => s.status === 'max_connections')).toBe(false);
    expect(second.ws.readyState).toBe(OPEN);
    expect(sim.stats()).toMatchObject({ maxConnectionsKicks: 1, authenticatedNow: 1 });
  });

  it('closes with 1012 on shutdown, a code the official clients reconnect after', async () => {
    const sim = await start();
    const c = official(sim);
    await c.waitAuthenticated();
    await sim.close();
    expect(await c.waitClosed()).toBe(SHUTDOWN_CLOSE_CODE);
    expect(c.closeReason).toBe('server shutting down');
  });

  it("times out a caller that assigns onopen, as the client's README does: that replaces the client's auth", async () => {
    const sim = await start({ authTimeoutMs: 300 });
    const c = official(sim, 'sim-key', (ws) => {
      ws.onopen = () => ws.send(JSON.stringify({ action: 'subscribe', params: 'AM.MSFT' }));
    });
    await c.waitStatus((s) => s.message === 'No authentication request received.', 'auth timeout');
    expect(c.statuses().map((s) => s.message)).toEqual(['Connected Successfully', 'not authorized', 'No authentication request received.']);
    expect(await c.waitClosed()).toBe(1008);
    expect(sim.clientMessages().map((m) => m.action)).toEqual(['subscribe']);
  });
});
