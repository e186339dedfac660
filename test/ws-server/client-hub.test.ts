import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAggregateItem, encodeDelta } from '../../src/ws-server/client-protocol.js';
import { maskOf } from '../../src/ws-server/list-mask.js';
import { eventually } from '../helpers/wait.js';
import { startHubServer } from './helpers/hub-server.js';
import { ListClient } from './helpers/list-client.js';

type Env = Awaited<ReturnType<typeof startHubServer>>;

describe('ClientHub over a real WebSocket server', () => {
  let env: Env | null = null;
  const clients: ListClient[] = [];
  const connect = async (url: string, options = {}) => {
    const c = await ListClient.connect(url, options);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await env?.server.close();
    env = null;
  });

  it('serves subscribe, unsubscribe, resync and ping as the contract says', async () => {
    env = await startHubServer();
    const { store, hub } = env;
    store.replace('winners', [{ symbol: 'AA', rank: 1 }], 5);
    const c = await connect(env.wsUrl);
    c.subscribe(['winners', 'gappers_up', 'nope']);
    await eventually(() => c.snapshots === 2 && c.errors.length === 1, 'two snapshots and an error');
    expect(c.messages[0]).toEqual({ type: 'snapshot', list: 'winners', sequence: 5, rows: [{ symbol: 'AA', rank: 1 }] });
    expect(c.errors[0]).toMatchObject({ code: 'unknown_list', message: 'unknown list: "nope"' });

    store.apply('winners', [{ action: 'remove', symbol: 'AA' }], 6);
    hub.broadcastDelta('winners', Buffer.from(encodeDelta({ list: 'winners', sequence: 6, deltas: [{ action: 'remove', symbol: 'AA' }], change_count: 1 })));
    await eventually(() => c.deltas === 1, 'a delta');
    expect(c.rows('winners')).toEqual([]);

    c.send({ action: 'resync', list: 'winners' });
    c.send({ action: 'resync', list: 'losers' });
    c.send({ action: 'ping' });
    await eventually(() => c.snapshots === 3 && c.errors.length === 2 && c.messages.some((m) => m.type === 'pong'), 'resync, error, pong');
    expect(c.errors[1]).toMatchObject({ code: 'not_subscribed' });
    expect(c.lists.get('winners')?.sequence).toBe(6);

    c.send({ action: 'unsubscribe', lists: ['winners'] });
    c.send({ action: 'ping' });
    await eventually(() => c.messages.filter((m) => m.type === 'pong').length === 2, 'second pong');
    expect(hub.broadcastDelta('winners', Buffer.from('{}'))).toBe(0);
    expect(hub.subscriberCount('gappers_up')).toBe(1);
    expect(c.violations).toEqual([]);
  });

  it('refuses more lists than allowed per connection', async () => {
    env = await startHubServer({ limits: { maxListsPerClient: 2 } });
    const c = await connect(env.wsUrl);
    c.subscribe(['winners', 'losers', 'gappers_up']);
    await eventually(() => c.errors.length === 1, 'an error');
    expect(c.errors[0]?.code).toBe('too_many_lists');
    expect(c.snapshots).toBe(0);
    c.subscribe(['winners', 'losers']);
    await eventually(() => c.snapshots === 2, 'two snapshots');
  });

  it('routes each aggregate once to the clients watching its symbol', async () => {
    env = await startHubServer();
    const { store, hub } = env;
    store.replace('winners', [{ symbol: 'AA', rank: 1 }, { symbol: 'BB', rank: 2 }], 1);
    store.replace('losers', [{ symbol: 'AA', rank: 1 }, { symbol: 'CC', rank: 2 }], 1);
    const a = await connect(env.wsUrl);
    const b = await connect(env.wsUrl);
    const both = await connect(env.wsUrl);
    a.subscribe(['winners']);
    b.subscribe(['losers']);
    both.subscribe(['winners', 'losers']);
    await eventually(() => a.snapshots === 1 && b.snapshots === 1 && both.snapshots === 2, 'snapshots');
    // Two ticks; ZZ is in no list, so it is not part of a tick at all.
    const tick = (prices: [string, number, number][]) =>
      hub.broadcastTick(prices.map(([symbol, price, time]) => ({ lists: maskOf(store.listsOf(symbol) ?? []), item: encodeAggregateItem({ symbol, price, time }) })));
    tick([['AA', 1, 1], ['BB', 2, 1], ['CC', 3, 1]]);
    tick([['AA', 9, 2]]);
    await eventually(() => a.aggregates.length === 3 && b.aggregates.length === 3 && both.aggregates.length === 4, 'aggregates');
    expect(a.aggregates.map((m) => m.symbol)).toEqual(['AA', 'BB', 'AA']);
    expect(b.aggregates.map((m) => m.symbol)).toEqual(['AA', 'CC', 'AA']);
    expect(both.aggregates.map((m) => m.symbol)).toEqual(['AA', 'BB', 'CC', 'AA']);
    expect(both.aggregates[0]).toEqual({ type: 'aggregate', symbol: 'AA', price: 1, time: 1 });
  });

  it('drops a slow consumer with 1013 and a log line, and the others get everything', async () => {
    env = await startHubServer({ limits: { sendBufferBytes: 256 * 1024, closeGraceMs: 30_000 } });
    const { store, hub, lines } = env;
    const slow = await connect(env.wsUrl);
    const fast = await connect(env.wsUrl);
    slow.subscribe(['winners']);
    fast.subscribe(['winners']);
    await eventually(() => slow.snapshots === 1 && fast.snapshots === 1, 'snapshots');
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const big = { action: 'update', symbol: 'AA', data: { blob: 'x'.repeat(200_000) } };
    let seq = 0;
    store.replace('winners', [], 0);
    // Push until the server gives up on the paused client (the kernel buffers some MB first).
    for (let i = 0; i < 400 && !hub.stats.drops.slow_consumer; i++) {
      seq++;
      hub.broadcastDelta('winners', Buffer.from(encodeDelta({ list: 'winners', sequence: seq, deltas: [big], change_count: 1 })));
      await eventually(() => fast.deltas >= seq - 1, 'the fast client keeps up');
    }
    expect(hub.stats.drops.slow_consumer).toBe(1);
    const line = lines.find((l) => l.event === 'ws_client_dropped');
    expect(line).toMatchObject({ reason: 'slow_consumer', close_code: 1013 });
    expect(line?.buffered_bytes).toBeGreaterThan(256 * 1024);
    await eventually(() => fast.deltas === seq, 'the fast client got every delta');
    expect(fast.violations).toEqual([]);
    socket.resume();
    await eventually(() => slow.closeCode !== null, 'slow client closed');
    expect(slow.closeCode).toBe(1013);
    expect(hub.size).toBe(1);
  });

  it('terminates a client that stops answering pings', async () => {
    env = await startHubServer({ limits: { heartbeatMs: 200 } });
    const dead = await connect(env.wsUrl, { autoPong: false });
    const alive = await connect(env.wsUrl);
    await eventually(() => dead.closeCode !== null, 'dead client cut off');
    expect(env.hub.stats.drops.dead).toBe(1);
    expect(env.lines.find((l) => l.event === 'ws_client_dropped')).toMatchObject({ reason: 'dead' });
    expect(alive.closeCode).toBeNull();
  });

  it('closes a flooding client with 1008 and an oversized frame with 1009', async () => {
    env = await startHubServer({ limits: { messageBurst: 20, maxMessagesPerSecond: 5, maxMessageBytes: 1024 } });
    const flood = await connect(env.wsUrl);
    const big = await connect(env.wsUrl);
    const calm = await connect(env.wsUrl);
    for (let i = 0; i < 100; i++) flood.send({ action: 'ping' });
    big.send({ action: 'subscribe', lists: ['winners'], pad: 'x'.repeat(5000) });
    await eventually(() => flood.closeCode !== null && big.closeCode !== null, 'both closed');
    expect(flood.closeCode).toBe(1008);
    expect(big.closeCode).toBe(1009);
    expect(env.hub.stats.drops).toMatchObject({ rate_limit: 1, oversized: 1 });
    calm.send({ action: 'ping' });
    await eventually(() => calm.messages.some((m) => m.type === 'pong'), 'the calm client is served');
  });

  it('refuses other origins and connections beyond the limit', async () => {
    env = await startHubServer({ allowedOrigins: ['http://good.example'], limits: { maxClients: 3 } });
    await expect(ListClient.connect(env.wsUrl, { origin: 'http://evil.example' })).rejects.toThrow('403');
    await connect(env.wsUrl, { origin: 'http://good.example' });
    await connect(env.wsUrl, { origin: `http://127.0.0.1:${env.server.port}` });
    await connect(env.wsUrl);
    await expect(ListClient.connect(env.wsUrl)).rejects.toThrow('503');
    expect(env.hub.stats.drops).toMatchObject({ origin_refused: 1, capacity: 1 });
    await expect(ListClient.connect(env.wsUrl.replace('/ws', '/other'))).rejects.toThrow('404');
  });
});
