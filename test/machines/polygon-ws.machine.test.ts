import { afterEach, describe, expect, it } from 'vitest';
import { acked, createHarness, drain, fastSettings, type Harness } from '../helpers/polygon-ws-harness.js';

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

  it('flow control: a burst of messages at once, then one per 1/rate s, never more than batchSize channels a message', async () => {
    h = createHarness();
    h.set = Array.from({ length: 10 }, (_, i) => `S${i}`);
    h.handshake();
    await h.flush();
    const sends = () => h.socket().commands.filter((c) => c.type === 'SEND');
    // burst 2, 10 messages a second, batchSize 3: two messages at once, the third 100 ms later.
    expect(sends()).toHaveLength(2);
    h.clock.increment(99);
    expect(sends()).toHaveLength(2);
    h.clock.increment(1);
    expect(sends()).toHaveLength(3);
    for (const c of h.socket().commands) if (c.type === 'SEND') expect(c.symbols.length).toBeLessThanOrEqual(3);
    await drain(h);
    expect(acked(h)).toHaveLength(10);
  });

  it('a lone change goes out at once, with no wait after an earlier send', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    await h.advance(1_000); // the bucket refills
    h.socket().commands.length = 0;
    h.hint({ NIO: true });
    expect(h.socket().commands).toEqual([{ type: 'SEND', action: 'subscribe', symbols: ['NIO'] }]);
    h.hint({ IBM: true });
    expect(h.socket().commands.at(-1)).toEqual({ type: 'SEND', action: 'subscribe', symbols: ['IBM'] });
  });

  it('subscribes and unsubscribes alternate: neither waits behind the other backlog', async () => {
    h = createHarness();
    await goLive(['U1', 'U2', 'U3', 'U4', 'U5', 'U6']);
    // One token per 100 ms: step the simulated clock by that much so the bucket fills up.
    for (let i = 0; i < 3; i++) h.clock.increment(100);
    h.socket().commands.length = 0;
    const members: Record<string, boolean> = {};
    for (let i = 1; i <= 6; i++) members[`U${i}`] = false;
    for (let i = 1; i <= 6; i++) members[`N${i}`] = true;
    h.hint(members);
    await h.flush();
    h.clock.increment(100);
    h.clock.increment(100);
    const actions = h.socket().commands.flatMap((c) => (c.type === 'SEND' ? [c.action] : []));
    expect(actions).toHaveLength(4);
    for (let i = 1; i < actions.length; i++) expect(actions[i]).not.toBe(actions[i - 1]);
  });

  it('never more channels unacknowledged than the window; acks open it again', async () => {
    h = createHarness({ ...fastSettings, reconciler: { ...fastSettings.reconciler, flow: { burstMessages: 100, messagesPerSecond: 100 } } });
    h.set = Array.from({ length: 30 }, (_, i) => `W${i}`);
    h.handshake();
    await h.flush();
    const inFlight = () => Object.keys(h.rec().getSnapshot().context.book.inFlight).length;
    expect(inFlight()).toBe(12);
    h.socket().ackAll();
    await h.flush();
    expect(inFlight()).toBe(12);
    await drain(h);
    expect(acked(h)).toHaveLength(30);
  });

  it('a nearly full window waits for acks instead of sending a short message; the last few go out as they are', async () => {
    h = createHarness({ ...fastSettings, reconciler: { ...fastSettings.reconciler, batchSize: 3, maxInFlight: 10, flow: { burstMessages: 100, messagesPerSecond: 100 } } });
    // The messages sent since the last ack (ackAll empties the socket's list).
    const sizes = () => h.socket().commands.flatMap((c) => (c.type === 'SEND' ? [c.symbols.length] : []));
    h.set = Array.from({ length: 20 }, (_, i) => `N${i}`);
    h.handshake();
    await h.flush();
    // 9 in flight, room for 1 while 11 wait: no message of 1.
    expect(sizes()).toEqual([3, 3, 3]);
    h.socket().ackAll();
    await h.flush();
    expect(sizes()).toEqual([3, 3, 3]);
    h.socket().ackAll();
    await h.flush();
    // 2 left, room for 10: they go out together, fewer than a batch.
    expect(sizes()).toEqual([2]);
    await drain(h);
    expect(acked(h)).toHaveLength(20);
  });

  it('the last channel fits the last room: no wait for acks when all that is left fits', async () => {
    h = createHarness({ ...fastSettings, reconciler: { ...fastSettings.reconciler, batchSize: 3, maxInFlight: 10, flow: { burstMessages: 100, messagesPerSecond: 100 } } });
    h.set = Array.from({ length: 10 }, (_, i) => `L${i}`);
    h.handshake();
    await h.flush();
    // 9 in flight, room for 1, 1 left: it goes at once.
    expect(h.socket().commands.flatMap((c) => (c.type === 'SEND' ? [c.symbols.length] : []))).toEqual([3, 3, 3, 1]);
  });

  it('after a bare 1008 on a connection that lived: a prompt jittered return, the SET re-read (not memory), no slow-down', async () => {
    h = createHarness();
    await goLive(['AAPL', 'TSLA']);
    await h.advance(2_000); // past youngDeathMs
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '' });
    expect(h.connState()).toBe('backoff');
    const c = h.conn().getSnapshot().context;
    expect(c.lastClose).toMatchObject({ cause: 'policy', matured: true });
    expect(c.nextDelayMs).toBeGreaterThanOrEqual(0);
    expect(c.nextDelayMs).toBeLessThan(100);
    expect(acked(h)).toEqual([]);
    // While disconnected the SET changes: TSLA leaves, NIO comes.
    h.set = ['AAPL', 'NIO'];
    const before = h.sockets.length;
    h.clock.increment(c.nextDelayMs);
    expect(h.sockets.length).toBe(before + 1);
    const readsBefore = h.reads;
    h.handshake();
    await h.flush();
    expect(h.reads).toBe(readsBefore + 1);
    expect(h.rec().getSnapshot().context.flow.factor).toBe(1);
    await drain(h);
    expect(acked(h)).toEqual(['AAPL', 'NIO']);
  });

  it('only repeated young deaths escalate the wait; a connection that lives resets it', async () => {
    h = createHarness();
    const ceilings: number[] = [];
    for (let i = 0; i < 6; i++) {
      h.handshake();
      await h.flush();
      h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
      const c = h.conn().getSnapshot().context;
      expect(c.lastClose).toMatchObject({ cause: 'network', matured: false });
      ceilings.push(Math.min(1_000, 100 * 2 ** (c.attempt - 1)));
      expect(c.nextDelayMs).toBeLessThan(ceilings[i] as number);
      h.clock.increment(c.nextDelayMs);
    }
    expect(ceilings).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(h.emitted.length).toBeGreaterThan(0);
    await goLive(['AAPL']);
    await h.advance(2_000);
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.conn().getSnapshot().context.attempt).toBe(1);
    expect(h.conn().getSnapshot().context.nextDelayMs).toBeLessThan(100);
  });

  it('a socket that never opens is a failed connect, and escalates like a young death', () => {
    h = createHarness();
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('connect_failed');
    h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(h.conn().getSnapshot().context.attempt).toBe(2);
  });

  it('a 1008 right after a burst of our messages is blamed on our sends: the rate halves at once, then recovers additively', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    const flow = () => h.rec().getSnapshot().context.flow;
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '', recentSendsMs: [5, 10, 900, 4_000] });
    expect(h.conn().getSnapshot().context.lastClose).toMatchObject({ cause: 'sent_burst', recentSends: 3 });
    expect(flow().factor).toBe(0.5);
    // burst 2 × 0.5 = 1: the bucket shrinks with it.
    expect(flow().tokens).toBeLessThanOrEqual(1);
    expect(h.rec().getSnapshot().context.metrics.slow_downs).toBe(1);
    // Two messages (below burstMessages 3) are not a burst: a plain policy close.
    h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    h.handshake();
    await h.flush();
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '', recentSendsMs: [5, 10] });
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('policy');
    expect(flow().factor).toBe(0.5);
    // Quiet periods of 10 s give back 0.25 each.
    h.clock.increment(10_000);
    expect(flow().factor).toBe(0.75);
    h.clock.increment(10_000);
    expect(flow().factor).toBe(1);
    h.clock.increment(30_000);
    expect(flow().factor).toBe(1);
    const paces = h.emitted.filter((e) => e.type === 'pace_changed').map((e) => (e.type === 'pace_changed' ? [e.reason, e.factor] : []));
    expect(paces).toEqual([
      ['slow_down', 0.5],
      ['recovered', 0.75],
      ['recovered', 1],
    ]);
  });

  it('a burst the upstream already took is no evidence: only a close after a larger one is blamed on our sends', async () => {
    h = createHarness();
    h.set = Array.from({ length: 9 }, (_, i) => `B${i}`);
    h.handshake();
    await h.flush();
    // Three messages of 3 within the burst window (two at once, one 100 ms later), acked.
    for (let i = 0; i < 3; i++) h.clock.increment(100);
    h.socket().ackAll();
    await h.flush();
    h.clock.increment(1_000);
    expect(h.conn().getSnapshot().context.provenBurst).toBe(3);
    // A storm's close right after a resubscription of the same size: not blamed.
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '', recentSendsMs: [5, 10, 20] });
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('policy');
    expect(h.rec().getSnapshot().context.flow.factor).toBe(1);
    // A larger burst than any the upstream took, then a close: blamed.
    h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    h.handshake();
    await h.flush();
    h.socket().send({ type: 'SOCKET_CLOSED', code: 1008, reason: '', recentSendsMs: [1, 2, 3, 4] });
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('sent_burst');
    expect(h.rec().getSnapshot().context.flow.factor).toBe(0.5);
  });

  it('a change of pace applies at once: the bucket refills at the new rate from the slow-down on', async () => {
    h = createHarness();
    h.set = Array.from({ length: 30 }, (_, i) => `P${i}`);
    h.handshake();
    await h.flush();
    const sends = () => h.socket().commands.filter((c) => c.type === 'SEND').length;
    expect(sends()).toBe(2);
    h.clock.increment(50);
    h.rec().send({ type: 'SLOW_DOWN' }); // 5 messages a second from now: the next token in 200 ms
    h.clock.increment(100);
    expect(sends()).toBe(2);
    h.clock.increment(100);
    expect(sends()).toBe(3);
  });

  it('max_connections: its own state, a long jittered wait growing per kick, never a tight reconnect loop', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.socket().send({ type: 'KICKED', message: 'Maximum number of websocket connections exceeded.' });
    expect(h.connState()).toBe('kicked');
    const first = h.conn().getSnapshot().context.nextDelayMs;
    expect(first).toBeGreaterThanOrEqual(10_000);
    expect(first).toBeLessThan(15_000);
    const n = h.sockets.length;
    h.clock.increment(first - 1);
    expect(h.sockets.length).toBe(n);
    h.clock.increment(1);
    expect(h.sockets.length).toBe(n + 1);
    // A second kick doubles the wait.
    h.handshake();
    h.socket().send({ type: 'KICKED', message: 'again' });
    const second = h.conn().getSnapshot().context.nextDelayMs;
    expect(second).toBeGreaterThanOrEqual(20_000);
    expect(second).toBeLessThan(30_000);
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('max_connections');
  });

  it('slow_consumer and force_disconnect return promptly and never slow the sends', async () => {
    h = createHarness();
    for (const status of ['slow_consumer', 'force_disconnect'] as const) {
      await goLive(['AAPL']);
      await h.advance(2_000);
      h.socket().send({ type: 'UPSTREAM_DROPPED', status, message: status });
      const c = h.conn().getSnapshot().context;
      expect(c.lastClose?.cause).toBe(status);
      expect(c.nextDelayMs).toBeLessThan(100);
      expect(h.rec().getSnapshot().context.flow.factor).toBe(1);
      h.clock.increment(c.nextDelayMs);
    }
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
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('auth_failed');
  });

  it('an auth_timeout status is a close of its own cause, and reconnects', async () => {
    h = createHarness();
    h.socket().send({ type: 'UPSTREAM_CONNECTED' });
    h.socket().send({ type: 'UPSTREAM_DROPPED', status: 'auth_timeout', message: 'No authentication request received.' });
    expect(h.connState()).toBe('backoff');
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('auth_timeout');
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
    expect(h.conn().getSnapshot().context.lastClose?.cause).toBe('handshake_timeout');
  });

  it('kicks are forgotten after a stable period', async () => {
    h = createHarness();
    await goLive(['AAPL']);
    h.socket().send({ type: 'KICKED', message: 'kick' });
    h.clock.increment(h.conn().getSnapshot().context.nextDelayMs);
    await goLive(['AAPL']);
    expect(h.conn().getSnapshot().context.kicks).toBe(1);
    await h.advance(20_000);
    expect(h.conn().getSnapshot().context.kicks).toBe(0);
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
    await h.advance(1_000);
    h.socket().commands.length = 0;
    // Spend the bucket (burst 2), so X4 has to wait for a token.
    h.hint({ X1: true, X2: true, X3: true, X5: true, X6: true, X7: true });
    h.hint({ X4: true });
    h.hint({ X4: false });
    h.hint({ X4: true });
    h.hint({ X4: false });
    h.hint({ X5: false, X6: false, X7: false });
    await drain(h);
    const sent = h.sockets.flatMap((s) => s.log);
    // X1-X3 and X5-X7 went out (X5-X7 back out again); X4 never did: its changes coalesced.
    expect(sent.some((c) => c.type === 'SEND' && c.symbols.includes('X1'))).toBe(true);
    expect(sent.filter((c) => c.type === 'SEND' && c.symbols.includes('X4'))).toEqual([]);
    expect(acked(h)).toEqual(['A1', 'A2', 'A3', 'X1', 'X2', 'X3']);
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
      while (h.connState() !== 'connecting') h.clock.increment(100);
      h.handshake();
      await drain(h);
    }
    expect(acked(h)).toEqual([...universe].sort());
  });
});
