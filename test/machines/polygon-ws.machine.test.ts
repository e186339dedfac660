import { afterEach, describe, expect, it } from 'vitest';
import { acked, createHarness, drain, type Harness } from '../helpers/polygon-ws-harness.js';

// The connection and reconciler together, with a scripted socket, an in-memory SET and the
// simulated clock: the promises of the issue, one by one.

let h: Harness;
afterEach(() => h?.stop());

async function goLive(set: string[]): Promise<void> {
  h.set = set;
  h.handshake();
  await drain(h);
  await h.flush();
}

describe('connection lifecycle', () => {
  it('connects, authenticates, resubscribes from the SET and goes live', async () => {
    h = createHarness();
    expect(h.connState()).toBe('connecting');
    h.socket().send({ type: 'UPSTREAM_CONNECTED' });
    expect(h.connState()).toBe('authenticating');
    expect(h.socket().commands).toEqual([{ type: 'AUTHENTICATE' }]);
    h.socket().commands.length = 0;
    h.set = ['AAPL', 'MSFT', 'NVDA', 'TSLA'];
    h.socket().send({ type: 'AUTH_SUCCESS' });
    expect(h.connState()).toBe('syncing');
    await drain(h);
    expect(h.connState()).toBe('live');
    expect(acked(h)).toEqual(['AAPL', 'MSFT', 'NVDA', 'TSLA']);
    expect(h.emitted.some((e) => e.type === 'resubscribing' && e.tickers_count === 4)).toBe(true);
  });

  it('batches and paces: never more than batchSize channels a message, one message per pace delay', async () => {
    h = createHarness();
    h.set = Array.from({ length: 10 }, (_, i) => `S${i}`);
    h.handshake();
    await h.flush();
    const sends = () => h.socket().commands.filter((c) => c.type === 'SEND');
    // batchSize 3: the first batch goes at once, the next only after the pace delay.
    expect(sends()).toHaveLength(1);
    h.clock.increment(99);
    expect(sends()).toHaveLength(1);
    h.clock.increment(1);
    expect(sends()).toHaveLength(2);
    for (const c of h.socket().commands) if (c.type === 'SEND') expect(c.symbols.length).toBeLessThanOrEqual(3);
    await drain(h);
    expect(acked(h)).toHaveLength(10);
  });

  it('after a 1008 close: waits the policy penalty, reconnects, re-reads the SET (not memory), and paces slower', async () => {
    h = createHarness();
    await goLive(['AAPL', 'TSLA']);
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
    expect(h.connState()).toBe('policyBackoff');
    expect(acked(h)).toEqual([]);
    // While disconnected the SET changes: TSLA leaves, NIO comes.
    h.set = ['AAPL', 'NIO'];
    const before = h.sockets.length;
    h.clock.increment(1_999);
    expect(h.sockets.length).toBe(before);
    h.clock.increment(1);
    expect(h.sockets.length).toBe(before + 1);
    const readsBefore = h.reads;
    h.handshake();
    await h.flush();
    expect(h.reads).toBe(readsBefore + 1);
    expect(h.rec().getSnapshot().context.paceMultiplier).toBe(2);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'NIO']);
    expect(h.conn().getSnapshot().context.closesByCode['1008']).toBe(1);
  });

  it('repeated 1008 closes grow the penalty up to its ceiling, never beyond', async () => {
    h = createHarness();
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
      waits.push(h.conn().getSnapshot().context.nextDelayMs);
      h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    }
    expect(waits.slice(0, 4)).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(Math.max(...waits)).toBe(16_000);
  });

  it('max_connections: its own state, a long wait, never a tight reconnect loop', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.socket().send({ type: 'KICKED', message: 'Maximum number of websocket connections exceeded.' });
    expect(h.connState()).toBe('kicked');
    const n = h.sockets.length;
    h.clock.increment(9_999);
    expect(h.sockets.length).toBe(n);
    h.clock.increment(1);
    expect(h.sockets.length).toBe(n + 1);
    // A second kick doubles the wait.
    h.handshake();
    h.socket().send({ type: 'KICKED', message: 'again' });
    h.clock.increment(19_999);
    expect(h.connState()).toBe('kicked');
    h.clock.increment(1);
    expect(h.connState()).toBe('connecting');
  });

  it('auth_failed is terminal: no reconnect however long we wait', async () => {
    h = createHarness();
    h.socket().send({ type: 'UPSTREAM_CONNECTED' });
    h.socket().send({ type: 'AUTH_FAILED', message: 'authentication failed' });
    expect(h.connState()).toBe('authFailed');
    const n = h.sockets.length;
    h.clock.increment(24 * 3_600_000);
    expect(h.sockets.length).toBe(n);
    expect(h.conn().getSnapshot().context.lastError).toContain('auth_failed');
  });

  it('a silent upstream is declared dead by the heartbeat watchdog', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.clock.increment(4_000);
    h.socket().send({ type: 'HEARTBEAT' });
    h.clock.increment(4_000);
    expect(h.connState()).toBe('live');
    h.clock.increment(1_000);
    expect(h.connState()).toBe('backoff');
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('heartbeat');
  });

  it('a handshake that never completes times out', () => {
    h = createHarness();
    h.socket().send({ type: 'UPSTREAM_CONNECTED' });
    h.clock.increment(3_000);
    expect(h.connState()).toBe('backoff');
  });

  it('backoff grows with failed attempts and resets after a stable period', async () => {
    h = createHarness();
    for (let i = 0; i < 4; i++) {
      h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      expect(h.connState()).toBe('backoff');
      const wait = h.conn().getSnapshot().context.nextDelayMs;
      expect(wait).toBeLessThan(Math.min(1_000, 100 * 2 ** i));
      h.clock.increment(wait);
    }
    expect(h.conn().getSnapshot().context.attempt).toBe(4);
    await goLive(['AAPL']);
    await h.advance(20_000);
    expect(h.conn().getSnapshot().context.attempt).toBe(0);
  });

  it('after a stable period the slowed pace returns to normal', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
    h.clock.increment(2_000);
    h.handshake();
    await drain(h);
    expect(h.rec().getSnapshot().context.paceMultiplier).toBe(2);
    await h.advance(20_000);
    expect(h.rec().getSnapshot().context.paceMultiplier).toBe(1);
  });
});

describe('reconciler', () => {
  it('heals a lost event at the next interval and counts the drift', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.set = ['AAPL', 'GOOG'];
    await h.advance(30_000);
    const r = h.emitted.filter((e) => e.type === 'reconciled').at(-1);
    expect(r?.type === 'reconciled' && r.result.missing).toEqual(['GOOG']);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'GOOG']);
    expect(h.rec().getSnapshot().context.metrics.total_drift_detected).toBe(1);
  });

  it('FORCE reconciles at once', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.set = ['MSFT'];
    h.actor.send({ type: 'FORCE' });
    await h.flush();
    await drain(h);
    expect(acked(h)).toEqual(['MSFT']);
  });

  it('hints follow the SET, not the event: an unsubscribe for a symbol back in the SET changes nothing', async () => {
    h = createHarness();
    await goLive(['AAPL', 'TSLA']);
    // The scanner's "unsubscribe TSLA" arrives, but the SET (checked) has TSLA again.
    h.hint({ TSLA: true });
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'TSLA']);
    // A "subscribe NIO" for a symbol no longer in the SET subscribes nothing.
    h.hint({ NIO: false });
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'TSLA']);
    // A verified removal does unsubscribe.
    h.hint({ TSLA: false });
    await drain(h);
    expect(acked(h)).toEqual(['AAPL']);
  });

  it('a hint applied while a full read is in flight is not overwritten by that older read', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.holdReads = true;
    await h.advance(30_000); // interval read issued, Redis sees {AAPL}
    h.hint({ NIO: true }); // executed by Redis after the read
    h.holdReads = false;
    h.releaseReads();
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'NIO']);
  });

  it('coalesces a subscribe and an unsubscribe of one symbol still waiting to be sent', async () => {
    h = createHarness();
    await goLive(['A1', 'A2', 'A3']);
    h.hint({ X1: true, X2: true, X3: true, X4: true }); // batch of 3 goes, X4 waits for the pace
    await h.flush();
    h.hint({ X4: false });
    h.hint({ X4: true });
    h.hint({ X4: false });
    await drain(h);
    const sent = h.sockets.flatMap(() => []);
    expect(sent).toEqual([]);
    expect(acked(h)).toEqual(['A1', 'A2', 'A3', 'X1', 'X2', 'X3']);
    expect(h.rec().getSnapshot().context.metrics.channels_sent).toBe(6);
  });

  it('a missing SET unsubscribes nothing; it is believed only after the grace period', async () => {
    h = createHarness();
    await goLive(['AAPL', 'MSFT']);
    h.set = null; // a non-atomic scanner between DEL and SADD, or a dead one
    h.actor.send({ type: 'FORCE' });
    await h.flush();
    expect(acked(h)).toEqual(['AAPL', 'MSFT']);
    h.hint({ AAPL: false }, false); // membership checks against a missing SET are ignored too
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'MSFT']);
    expect(h.rec().getSnapshot().context.metrics.set_missing_reads).toBeGreaterThan(0);
    await h.advance(10_000);
    await drain(h);
    expect(acked(h)).toEqual([]);
  });

  it('a SET that comes back within the grace period keeps everything', async () => {
    h = createHarness();
    await goLive(['AAPL', 'MSFT']);
    h.set = null;
    h.actor.send({ type: 'FORCE' });
    await h.flush();
    h.set = ['AAPL', 'MSFT', 'NIO'];
    await h.advance(1_000); // retry read
    await drain(h);
    await h.advance(20_000);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'MSFT', 'NIO']);
  });

  it('after a reconnect with the SET missing, nothing is resubscribed from memory', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.set = null;
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    h.clock.increment(1_000);
    h.handshake();
    await h.flush();
    expect(h.socket().commands.filter((c) => c.type === 'SEND')).toEqual([]);
    expect(h.connState()).toBe('syncing');
    h.set = ['AAPL'];
    h.clock.increment(1_000);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL']);
    expect(h.connState()).toBe('live');
  });

  it('a failed read is retried soon and reported', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.failReads = true;
    h.actor.send({ type: 'FORCE' });
    await h.flush();
    expect(h.emitted.some((e) => e.type === 'read_failed')).toBe(true);
    h.failReads = false;
    h.set = ['AAPL', 'IBM'];
    h.clock.increment(1_000);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'IBM']);
  });

  it('resends a request whose ack never came', async () => {
    h = createHarness();
    h.set = ['AAPL'];
    h.handshake();
    await h.flush();
    h.socket().commands.length = 0; // the ack is lost
    await h.advance(61_000);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL']);
  });

  it('the 47 → 36 decay of the seeds cannot happen: unsubscribes between drops lose nothing that is in the SET', async () => {
    h = createHarness();
    const universe = Array.from({ length: 47 }, (_, i) => `T${i}`);
    await goLive(universe);
    for (let round = 0; round < 11; round++) {
      // The scanner says "unsubscribe T<round>", then it comes back in the SET at once.
      h.hint({ [`T${round}`]: true });
      h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
      // The policy penalty doubles with each strike: wait for it, however long.
      while (h.connState() !== 'connecting') h.clock.increment(1_000);
      h.handshake();
      await drain(h);
    }
    expect(acked(h)).toEqual([...universe].sort());
  });
});
