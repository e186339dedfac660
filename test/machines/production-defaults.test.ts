import { afterEach, describe, expect, it } from 'vitest';
import { connectionSettingsOf, defaultConnectionSettings } from '../../src/machines/connection.machine.js';
import { defaultReconcilerSettings, reconcilerSettingsOf } from '../../src/machines/reconciler.machine.js';
import { loadConfig } from '../../src/config/env.js';
import type { PolygonWsInput } from '../../src/machines/polygon-ws.machine.js';
import { polygonWsInputOf } from '../../src/roles/polygon-ws/settings.js';
import { acked, createHarness as createAnyHarness, type Harness } from '../helpers/polygon-ws-harness.js';

// The settings production runs with, on the simulated clock: a NaN, zero or absurd default
// (a tight reconnect loop, a stalled outbox) fails here, where every other test uses fast ones.

let h: Harness;
afterEach(() => h?.stop());

const symbols = (n: number, p = 'D') => Array.from({ length: n }, (_, i) => `${p}${i}`);

/** The machines as the role starts them from an empty environment, on the simulated clock. */
function createHarness(over: PolygonWsInput & { seed: number }): Harness {
  const { connection, reconciler } = polygonWsInputOf(loadConfig({}), over);
  return createAnyHarness({ seed: over.seed, connection, reconciler });
}

describe('production defaults', () => {
  it('a partial backoff keeps the other default; NaN, zero or negative settings fail at creation', () => {
    expect(connectionSettingsOf({ backoff: {} })).toEqual(defaultConnectionSettings);
    expect(connectionSettingsOf({ backoff: { baseMs: 100 } }).backoff).toEqual({ baseMs: 100, maxMs: 30_000 });
    expect(() => connectionSettingsOf({ backoff: { baseMs: Number.NaN } })).toThrow('connection setting backoff.baseMs must be a positive number, got NaN');
    expect(() => connectionSettingsOf({ backoff: { maxMs: -1 } })).toThrow('connection setting backoff.maxMs must be a positive number, got -1');
    // A fixed wait (no escalation) is allowed.
    expect(connectionSettingsOf({ backoff: { baseMs: 1_000, maxMs: 1_000 } }).backoff).toEqual({ baseMs: 1_000, maxMs: 1_000 });
    expect(() => connectionSettingsOf({ youngDeathMs: 0 })).toThrow(/youngDeathMs/);
    expect(() => connectionSettingsOf({ backoff: { baseMs: 2_000, maxMs: 1_000 } })).toThrow(/maxMs/);
    expect(reconcilerSettingsOf({ flow: {} })).toEqual(defaultReconcilerSettings);
    expect(() => reconcilerSettingsOf({ flow: { messagesPerSecond: 0 } })).toThrow(/messagesPerSecond/);
    expect(() => reconcilerSettingsOf({ batchSize: 20_000 })).toThrow('reconciler setting batchSize must not exceed 10000');
    expect(reconcilerSettingsOf({ batchSize: 10_000 }).batchSize).toBe(10_000);
    expect(() => reconcilerSettingsOf({ retryMs: 0 })).toThrow('reconciler setting retryMs must be a positive number, got 0');
    // No grace at all is allowed (an empty SET believed at once); a negative or NaN one is not.
    expect(reconcilerSettingsOf({ emptySetGraceMs: 0 }).emptySetGraceMs).toBe(0);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => reconcilerSettingsOf({ emptySetGraceMs: bad })).toThrow('reconciler setting emptySetGraceMs must be 0 or more');
    expect(() => reconcilerSettingsOf({ maxInFlight: Number.NaN })).toThrow(/maxInFlight/);
  });

  it('10,000 tickers resubscribe within the default burst and window: every message at once', async () => {
    h = createHarness({ seed: 11 });
    h.set = symbols(10_000);
    h.handshake();
    await h.flush();
    const sends = () => h.sockets.flatMap((s) => s.commands).filter((c) => c.type === 'SEND');
    // Ten messages of 1,000, all before any ack: the window holds 10,000 unacknowledged channels.
    expect(sends()).toHaveLength(10);
    for (const c of sends()) if (c.type === 'SEND') expect(c.symbols).toHaveLength(1_000);
    h.socket().ackAll();
    await h.flush();
    // No clock advanced at all: the whole SET is acknowledged within the burst.
    expect(h.clock.now()).toBe(0);
    expect(acked(h)).toHaveLength(10_000);
    expect(h.connState()).toBe('live');
  });

  it('reconnect waits: prompt after a connection that lived, escalating only for young deaths, long after a kick', async () => {
    h = createHarness({ seed: 5 });
    h.set = ['AAPL'];
    h.handshake();
    await h.flush();
    h.socket().ackAll();
    await h.advance(5_000); // youngDeathMs
    const conn = () => h.conn().getSnapshot().context;
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
    expect(conn().lastClose).toMatchObject({ cause: 'policy', matured: true });
    expect(conn().nextDelayMs).toBeGreaterThanOrEqual(0);
    expect(conn().nextDelayMs).toBeLessThan(500);
    // Young deaths in a row: ceilings 1 s, 2 s, 4 s, … up to 30 s, always a finite wait.
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      h.clock.increment(conn().nextDelayMs);
      h.handshake();
      await h.flush();
      h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
      expect(conn().lastClose?.matured).toBe(false);
      const ceiling = Math.min(30_000, 500 * 2 ** (conn().attempt - 1));
      expect(Number.isFinite(conn().nextDelayMs)).toBe(true);
      expect(conn().nextDelayMs).toBeLessThan(ceiling);
      waits.push(conn().nextDelayMs);
    }
    expect(conn().attempt).toBe(11);
    // Jitter applies: ten draws are not all the same.
    expect(new Set(waits).size).toBeGreaterThan(5);
    h.clock.increment(conn().nextDelayMs);
    h.handshake();
    await h.flush();
    h.socket().send({ type: 'KICKED', message: 'Maximum number of websocket connections exceeded.' });
    expect(conn().nextDelayMs).toBeGreaterThanOrEqual(60_000);
    expect(conn().nextDelayMs).toBeLessThan(90_000);
  });

  it('the heartbeat watchdog and the handshake timeout fire at their default times', async () => {
    h = createHarness({ seed: 3 });
    h.socket().send({ type: 'UPSTREAM_CONNECTED' });
    h.clock.increment(9_999);
    expect(h.connState()).toBe('authenticating');
    h.clock.increment(1);
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('handshake_timeout');
    h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    h.set = ['AAPL'];
    h.handshake();
    await h.flush();
    h.socket().ackAll();
    await h.flush();
    h.clock.increment(44_999);
    expect(h.connState()).toBe('live');
    h.clock.increment(1);
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('heartbeat');
  });

  it('the default flow: a burst of 50 messages, then 20 a second; a slow-down at least halves both at once', async () => {
    h = createHarness({ seed: 1, reconciler: { batchSize: 1, maxInFlight: 1_000 } });
    h.set = symbols(200, 'F');
    h.handshake();
    await h.flush();
    const sent = () => h.socket().commands.filter((c) => c.type === 'SEND').length;
    expect(sent()).toBe(50);
    for (let i = 0; i < 20; i++) h.clock.increment(50);
    expect(sent()).toBe(70);
    h.rec().send({ type: 'SLOW_DOWN' });
    for (let i = 0; i < 20; i++) h.clock.increment(50);
    expect(sent()).toBe(80);
    // Evidence can lower it further: 8 messages before the close → at most 4 back to back.
    h.rec().send({ type: 'SLOW_DOWN', recentSends: 8 });
    expect(h.rec().getSnapshot().context.flow.factor).toBe(4 / 50);
    // A quiet 30 s gives back one step of 1/8.
    for (let i = 0; i < 600; i++) h.clock.increment(50);
    expect(h.rec().getSnapshot().context.flow.factor).toBeCloseTo(4 / 50 + 1 / 8, 10);
  });
});
