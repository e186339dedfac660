import { describe, expect, it } from 'vitest';
import { createActor, createMachine, fromCallback, type AnyEventObject } from 'xstate';
import { RECONCILER_ID } from '../../src/machines/protocol.js';
import { createActiveSet } from '../../src/services/active-set.js';
import { createSubscriptionEvents, ensureGroup, parseEntry, readConsumerLag } from '../../src/services/subscription-events.js';
import { createLogger } from '../../src/shared/logger.js';
import { SUBSCRIPTIONS_GROUP, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import { useTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

describe('subscription events', () => {
  const redis = useTestRedis();

  it('consumer lag counts entries not yet delivered, also after entries were deleted unread', async () => {
    const c = redis.current.client;
    await ensureGroup(c);
    const ids: string[] = [];
    for (const s of ['A', 'B', 'C', 'D']) ids.push((await c.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', s, 'action', 'subscribe')) as string);
    expect(await readConsumerLag(c)).toBe(4);
    await c.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, 'x', 'COUNT', 2, 'STREAMS', SUBSCRIPTIONS_STREAM, '>');
    expect(await readConsumerLag(c)).toBe(2);
    // Deleted before the group read them (Redis's own `lag` field then stays at 2 for good).
    await c.xdel(SUBSCRIPTIONS_STREAM, ids[2] as string, ids[3] as string);
    expect(await readConsumerLag(c)).toBe(0);
    await c.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'E', 'action', 'subscribe');
    expect(await readConsumerLag(c)).toBe(1);
  });

  it('parses entries at the edge: missing fields, unknown actions, non-ASCII symbols', () => {
    expect(parseEntry('1-0', ['symbol', 'AAPL', 'action', 'Subscribe'])).toEqual({ id: '1-0', symbol: 'AAPL', action: 'subscribe' });
    expect(parseEntry('1-1', ['action', 'subscribe'])).toMatchObject({ reason: 'missing_symbol' });
    expect(parseEntry('1-2', ['symbol', 'AAPL'])).toMatchObject({ reason: 'missing_action' });
    expect(parseEntry('1-3', ['symbol', 'AAPL', 'action', 'explode'])).toMatchObject({ reason: 'unknown_action' });
    expect(parseEntry('1-4', ['symbol', 'ß', 'action', 'subscribe'])).toMatchObject({ reason: 'invalid_symbol' });
  });

  it('keeps a symbol as the provider spells it: preferreds and classes, never upper-cased', () => {
    expect(parseEntry('2-0', ['symbol', 'AMpB', 'action', 'subscribe'])).toEqual({ id: '2-0', symbol: 'AMpB', action: 'subscribe' });
    expect(parseEntry('2-1', ['symbol', 'BCpC', 'action', 'unsubscribe'])).toEqual({ id: '2-1', symbol: 'BCpC', action: 'unsubscribe' });
    expect(parseEntry('2-2', ['symbol', 'BRK.B', 'action', 'subscribe'])).toEqual({ id: '2-2', symbol: 'BRK.B', action: 'subscribe' });
    expect(parseEntry('2-3', ['symbol', ' AMpB ', 'action', 'subscribe'])).toMatchObject({ symbol: 'AMpB' });
    // AMPB is another symbol, kept as it is too.
    expect(parseEntry('2-4', ['symbol', 'AMPB', 'action', 'subscribe'])).toMatchObject({ symbol: 'AMPB' });
    // What cannot be a symbol is refused, not repaired: no root in lower case, no comma, no ß → SS.
    for (const bad of ['aapl', 'amPB', 'AM,pB', 'AMpB*', 'AMßB', 'AM\u0000pB', 'A'.repeat(17)]) {
      expect(parseEntry('2-5', ['symbol', bad, 'action', 'subscribe'])).toEqual({ id: '2-5', reason: 'invalid_symbol' });
    }
  });

  it('an acknowledgement that keeps failing (fenced out) backs off: the same pending entries are not re-read in a tight loop', async () => {
    const c = redis.current.client;
    await ensureGroup(c);
    for (const sym of ['AAPL', 'MSFT']) await c.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', sym, 'action', 'subscribe');
    // Delivered to our consumer and never acknowledged: its own pending entries.
    await c.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, 'me', 'COUNT', 10, 'STREAMS', SUBSCRIPTIONS_STREAM, '>');
    const hints: AnyEventObject[] = [];
    const acksAt: number[] = [];
    const log = createLogger({ level: 'silent' });
    const events = createSubscriptionEvents({
      connect: () => c.duplicate(),
      ack: async () => {
        acksAt.push(Date.now());
        throw new Error('fenced out');
      },
      activeSet: createActiveSet(c, log),
      consumer: 'me',
      log,
      blockMs: 100,
    });
    const system = createMachine({
      invoke: [
        { src: fromCallback(({ receive }) => receive((e) => void hints.push(e))), systemId: RECONCILER_ID },
        { src: events.logic },
      ],
    });
    const actor = createActor(system).start();
    // Waits for a positive signal (the third try), then checks the time between tries: at least
    // one back-off (100 ms or more) between each two, where a tight loop would take a millisecond.
    await eventually(() => acksAt.length >= 3, 'a third acknowledgement attempt');
    actor.stop();
    await events.drained();
    expect(acksAt[1]! - acksAt[0]!).toBeGreaterThanOrEqual(100);
    expect(acksAt[2]! - acksAt[1]!).toBeGreaterThanOrEqual(100);
    // Each try re-read the same entries (hints again), and only then acknowledged them.
    expect(hints.length).toBe(acksAt.length);
    // Nothing was lost: the entries are still pending, to be read again.
    const pending = (await c.xpending(SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(2);
  });
});
