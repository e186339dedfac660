import { describe, expect, it } from 'vitest';
import { AckQueue, applyOps, emptySubscriptions, parseChannel, type PendingOp } from '../../src/simulator/ack-queue.js';

const op = (action: PendingOp['action'], ...channels: string[]): PendingOp => ({ dueAt: 0, action, channels });

describe('AckQueue', () => {
  it('is due at once only with no delay and nothing ahead', () => {
    const q = new AckQueue();
    expect(q.push(1000, 0, 'subscribe', ['A.AAPL'])).toBe(true);
    expect(q.push(1000, 0, 'subscribe', ['A.MSFT'])).toBe(false);
    expect(q.size).toBe(2);
    expect(new AckQueue().push(1000, 5, 'subscribe', ['A.AAPL'])).toBe(false);
  });

  it('never makes a message due before an earlier one, even when the delay is lowered', () => {
    const q = new AckQueue();
    q.push(1000, 500, 'subscribe', ['A.AAPL']);
    q.push(1100, 0, 'unsubscribe', ['A.AAPL']);
    expect(q.nextDueAt()).toBe(1500);
    expect(q.takeDue(1499)).toEqual([]);
    expect(q.takeDue(1500).map((o) => [o.action, o.dueAt])).toEqual([
      ['subscribe', 1500],
      ['unsubscribe', 1500],
    ]);
    expect(q.nextDueAt()).toBeUndefined();
  });

  it('takes only what is due, oldest first, and forgets everything on clear', () => {
    const q = new AckQueue();
    q.push(0, 10, 'subscribe', ['A.A']);
    q.push(5, 10, 'subscribe', ['A.B']);
    q.push(20, 10, 'subscribe', ['A.C']);
    expect(q.takeDue(15).flatMap((o) => o.channels)).toEqual(['A.A', 'A.B']);
    expect(q.nextDueAt()).toBe(30);
    q.clear();
    expect(q.size).toBe(0);
    expect(q.takeDue(1e9)).toEqual([]);
  });
});

describe('parseChannel', () => {
  it('takes every prefix, wildcards included, and refuses what is not a channel', () => {
    expect(parseChannel('A.AAPL')).toEqual({ ev: 'A', symbol: 'AAPL' });
    expect(parseChannel('AM.*')).toEqual({ ev: 'AM', symbol: '*' });
    expect(parseChannel('LULD.BRK.B')).toEqual({ ev: 'LULD', symbol: 'BRK.B' });
    for (const bad of ['AAPL', '.AAPL', 'X.AAPL', 'A.']) expect(parseChannel(bad)).toBeNull();
  });
});

describe('applyOps', () => {
  it('applies subscribes and unsubscribes, acks each channel, and names only explicit A symbols', () => {
    const subs = emptySubscriptions();
    const out = applyOps(subs, [op('subscribe', 'A.AAPL', 'AM.AAPL', 'T.*', 'nonsense'), op('unsubscribe', 'AM.AAPL')], () => false);
    expect(out.events).toEqual([
      { ev: 'status', status: 'success', message: 'subscribed to: A.AAPL' },
      { ev: 'status', status: 'success', message: 'subscribed to: AM.AAPL' },
      { ev: 'status', status: 'success', message: 'subscribed to: T.*' },
      { ev: 'status', status: 'error', message: 'invalid channel: nonsense' },
      { ev: 'status', status: 'success', message: 'unsubscribed to: AM.AAPL' },
    ]);
    expect(out).toMatchObject({ subscribed: ['AAPL'], unsubscribed: [], acksSent: 4, acksDropped: 0, invalidChannels: 1 });
    expect([...subs.activeChannels]).toEqual(['A.AAPL', 'T.*']);
    expect([...subs.ackedChannels]).toEqual(['A.AAPL', 'T.*']);
    expect([...subs.acked]).toEqual(['AAPL']);
    expect(subs.streams.T.wildcard).toBe(true);
    expect([...subs.streams.AM.symbols]).toEqual([]);
  });

  it('applies a change whose ack is lost, and asks about loss once per valid channel in order', () => {
    const subs = emptySubscriptions();
    const asked: number[] = [];
    let n = 0;
    const out = applyOps(subs, [op('subscribe', 'A.AAPL', 'bad', 'A.MSFT')], () => {
      asked.push(n);
      return n++ === 0;
    });
    expect(asked).toEqual([0, 1]);
    expect(out).toMatchObject({ subscribed: ['MSFT'], acksSent: 1, acksDropped: 1, invalidChannels: 1 });
    // The server streams both; only MSFT was acknowledged.
    expect([...subs.streams.A.symbols]).toEqual(['AAPL', 'MSFT']);
    expect([...subs.acked]).toEqual(['MSFT']);

    const gone = applyOps(subs, [op('unsubscribe', 'A.MSFT')], () => true);
    expect(gone).toMatchObject({ events: [], unsubscribed: [], acksDropped: 1 });
    expect([...subs.acked]).toEqual([]);
    expect([...subs.streams.A.symbols]).toEqual(['AAPL']);
  });
});
