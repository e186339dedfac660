import { describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../../../src/machines/connection.machine.js';
import { createLogger } from '../../../src/shared/logger.js';
import { LogThrottle } from '../../../src/shared/log-throttle.js';
import { AckBatch, handleFrame, type SocketStats } from '../../../src/services/polygon-socket/frame-handler.js';
import type { Aggregate } from '../../../src/upstream/codec.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function context() {
  const events: ConnectionEvent[] = [];
  const aggregates: Aggregate[] = [];
  const stats: SocketStats = { messagesIn: 0, messagesOut: 0, framesRejected: 0, lastError: null };
  const log = createLogger({ level: 'silent' });
  const sendBack = (e: ConnectionEvent) => events.push(e);
  const ctx = { stats, log, rejectedLog: new LogThrottle(log), onAggregates: (a: Aggregate[]) => aggregates.push(...a), sendBack, acks: new AckBatch(sendBack) };
  return { ctx, events, aggregates, stats };
}

const status = (status: string, message: string) => ({ ev: 'status', status, message });

describe('handleFrame', () => {
  it('gathers the acks of several frames of one tick into one ACKED event', async () => {
    const { ctx, events } = context();
    handleFrame(JSON.stringify([status('success', 'subscribed to: A.AAPL')]), ctx);
    handleFrame(JSON.stringify([status('success', 'subscribed to: A.MSFT'), status('success', 'unsubscribed to: A.TSLA')]), ctx);
    expect(events).toEqual([]);
    await tick();
    expect(events).toEqual([{ type: 'ACKED', subscribed: ['AAPL', 'MSFT'], unsubscribed: ['TSLA'] }]);
  });

  it('turns statuses into the machine`s events and keeps the last error', () => {
    const { ctx, events, stats } = context();
    handleFrame(JSON.stringify([status('auth_success', 'authenticated'), status('max_connections', 'Maximum number of websocket connections exceeded.')]), ctx);
    expect(events.map((e) => e.type)).toEqual(['AUTH_SUCCESS', 'KICKED']);
    expect(stats.lastError).toMatch(/^max_connections: /);
  });

  it('hands aggregates over and counts what it cannot read, without throwing', () => {
    const { ctx, aggregates, stats } = context();
    const agg = { ev: 'A', sym: 'AAPL', v: 1, av: 1, op: 1, vw: 1, o: 1, c: 1, h: 1, l: 1, a: 1, z: 1, s: 1000, e: 2000 };
    handleFrame(JSON.stringify([agg, { ev: 'A', sym: 'MSFT', c: 'bad' }]), ctx);
    handleFrame('not json', ctx);
    expect(aggregates.map((a) => a.sym)).toEqual(['AAPL']);
    expect(stats.framesRejected).toBeGreaterThanOrEqual(2);
  });
});

describe('AckBatch', () => {
  it('sends what waits at once when the socket closes, and nothing after a cancel', async () => {
    const events: ConnectionEvent[] = [];
    const batch = new AckBatch((e) => events.push(e));
    batch.add('subscribed', ['AAPL']);
    batch.schedule();
    batch.sendNow();
    expect(events).toEqual([{ type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] }]);
    batch.add('unsubscribed', ['AAPL']);
    batch.schedule();
    batch.cancel();
    await tick();
    expect(events).toHaveLength(1);
  });
});
