import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WsServerHandle } from '../../src/roles/ws-server.js';
import { AGGREGATES_STREAM, categoryKey, RANKING_DELTAS_STREAM, STREAM_DATA_FIELD } from '../../src/shared/redis-keys.js';
import { HubSocket } from '../../src/ws-server/client-hub.js';
import { encodeAggregateItem } from '../../src/ws-server/client-protocol.js';
import { maskOf } from '../../src/ws-server/list-mask.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { startHubServer } from './helpers/hub-server.js';
import { ListClient } from './helpers/list-client.js';
import { captureLog } from './helpers/log.js';
import { startTestWsServer, subscribedClient, writeLists } from './helpers/ws-server.js';

// Batched live prices (`batch: true`, contract: the `aggregates` frame): the same routing as
// one message per price, a tick's prices in one frame, encoded once per set of lists, frames
// bounded, slow readers dropped; clients that do not ask are served as before.

type Env = Awaited<ReturnType<typeof startHubServer>>;

describe('batched aggregates through the hub', () => {
  let env: Env | null = null;
  const clients: ListClient[] = [];
  const connect = async (url: string) => {
    const c = await ListClient.connect(url);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await env?.server.close();
    env = null;
  });

  function tick(e: Env, prices: [string, number][], time = 1) {
    return e.hub.broadcastTick(
      prices.map(([symbol, price]) => ({ lists: maskOf(e.store.listsOf(symbol) ?? []), item: encodeAggregateItem({ symbol, price, time }) })),
    );
  }

  it('encodes a batch once per set of lists: clients watching the same lists are sent the same Buffer', async () => {
    env = await startHubServer();
    env.store.replace('winners', [{ symbol: 'AA' }, { symbol: 'BB' }], 1);
    env.store.replace('losers', [{ symbol: 'CC' }], 1);
    const same1 = await connect(env.wsUrl);
    const same2 = await connect(env.wsUrl);
    const other = await connect(env.wsUrl);
    same1.send({ action: 'subscribe', lists: ['winners', 'losers'], batch: true });
    same2.send({ action: 'subscribe', lists: ['losers', 'winners'], batch: true });
    other.send({ action: 'subscribe', lists: ['winners'], batch: true });
    await eventually(() => same1.snapshots === 2 && same2.snapshots === 2 && other.snapshots === 1, 'snapshots');
    expect(env.hub.groupCount).toBe(2);

    const sent: { socket: HubSocket; data: unknown }[] = [];
    const send = HubSocket.prototype.send;
    vi.spyOn(HubSocket.prototype, 'send').mockImplementation(function (this: HubSocket, data: unknown, ...rest: unknown[]) {
      sent.push({ socket: this, data });
      return (send as (...a: unknown[]) => void).call(this, data, ...rest);
    });
    tick(env, [['AA', 1], ['CC', 2], ['BB', 3]]);
    await eventually(() => same1.batches.length === 1 && same2.batches.length === 1 && other.batches.length === 1, 'one frame each');
    expect(sent).toHaveLength(3);
    const frameOf = (c: ListClient) => sent.find((s) => s.socket.hubId === [same1, same2, other].indexOf(c) + 1)?.data;
    expect(frameOf(same1)).toBe(frameOf(same2));
    expect(frameOf(other)).not.toBe(frameOf(same1));
    expect(same1.batchItems()).toEqual([
      { symbol: 'AA', price: 1, time: 1 },
      { symbol: 'CC', price: 2, time: 1 },
      { symbol: 'BB', price: 3, time: 1 },
    ]);
    expect(other.batchItems().map((i) => i.symbol)).toEqual(['AA', 'BB']);
    expect(same1.aggregates).toEqual([]);
    expect(env.hub.stats.messages_out.aggregates).toBe(3);
  });

  it('splits a large tick into frames below the bound, every price once and in order', async () => {
    env = await startHubServer({ limits: { batchFrameBytes: 1024 } });
    const symbols = Array.from({ length: 150 }, (_, i) => `S${i}`);
    env.store.replace('winners', symbols.map((symbol) => ({ symbol })), 1);
    const c = await connect(env.wsUrl);
    c.send({ action: 'subscribe', lists: ['winners'], batch: true });
    await eventually(() => c.snapshots === 1, 'snapshot');
    const frames = tick(env, symbols.map((s, i) => [s, i]));
    await eventually(() => c.batchItems().length === 150, 'every price');
    expect(frames).toBeGreaterThan(1);
    expect(c.batches).toHaveLength(frames);
    for (const b of c.batches) expect(b.bytes).toBeLessThanOrEqual(1024);
    expect(c.batchItems().map((i) => i.symbol)).toEqual(symbols);
  });

  it('drops a slow batched reader with 1013 instead of buffering for it; the others get every tick', async () => {
    env = await startHubServer({ limits: { sendBufferBytes: 64 * 1024, closeGraceMs: 30_000 } });
    const symbols = Array.from({ length: 2_000 }, (_, i) => `S${i}`);
    env.store.replace('winners', symbols.map((symbol) => ({ symbol })), 1);
    const slow = await connect(env.wsUrl);
    const fast = await connect(env.wsUrl);
    slow.send({ action: 'subscribe', lists: ['winners'], batch: true });
    fast.send({ action: 'subscribe', lists: ['winners'], batch: true });
    await eventually(() => slow.snapshots === 1 && fast.snapshots === 1, 'snapshots');
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    let ticks = 0;
    // Push ticks until the server gives up on the paused client (the kernel buffers some MB first).
    while (ticks < 1_000 && !env.hub.stats.drops.slow_consumer) {
      ticks++;
      tick(env, symbols.map((s) => [s, ticks]), ticks);
      const want = ticks * symbols.length;
      await eventually(() => fast.batchItems().length === want, 'the fast client keeps up');
    }
    expect(env.hub.stats.drops.slow_consumer).toBe(1);
    const line = env.lines.find((l) => l.event === 'ws_client_dropped');
    expect(line).toMatchObject({ reason: 'slow_consumer', close_code: 1013 });
    // Dropped as soon as its queue passed the bound: at most one frame (16 KiB and a header) beyond it.
    expect(line?.buffered_bytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024 + 14);
    tick(env, [['S0', -1]], ticks + 1);
    await eventually(() => fast.batchItems().length === ticks * symbols.length + 1, 'the fast client got every tick');
    socket.resume();
    await eventually(() => slow.closeCode !== null, 'slow client closed');
    expect(slow.closeCode).toBe(1013);
    expect(env.hub.size).toBe(1);
  });

  it('refuses hostile batch values with an error and a count, and keeps the connection', async () => {
    env = await startHubServer();
    const c = await connect(env.wsUrl);
    for (const v of ['true', 1, null, {}, [true]]) c.send({ action: 'subscribe', lists: ['winners'], batch: v });
    c.send('{"action":"subscribe","lists":["winners"],"batch":"__proto__"}');
    await eventually(() => c.errors.length === 6, 'six errors');
    expect(new Set(c.errors.map((e) => e.code))).toEqual(new Set(['invalid_batch']));
    expect(env.hub.stats.client_errors.invalid_batch).toBe(6);
    expect(c.snapshots).toBe(0);
    expect(env.hub.subscriberCount('winners')).toBe(0);
    c.send({ action: 'ping' });
    await eventually(() => c.messages.some((m) => m.type === 'pong'), 'still served');
    expect(c.closeCode).toBeNull();
  });
});

describe('batched aggregates through the ws-server on a real Redis', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let server: WsServerHandle;
  const clients: ListClient[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    await writeLists(redis.client, { winners: ['AA', 'BB'], losers: ['BB', 'CC'], gappers_up: ['EE'] }).exec();
    server = await startTestWsServer(redis.server.url, captureLog('warn').log);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    await redis.stop();
  });

  /** One upstream frame, as polygon-ws writes it: every aggregate's JSON, all XADDs at once. */
  function tickTx(prices: [string, number][], e: number) {
    const tx = redis.client.multi();
    for (const [sym, c] of prices) {
      tx.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ ev: 'A', sym, v: 10, av: 100, op: 1, vw: c, o: c, c, h: c, l: c, a: c, z: 1, s: e - 1000, e }));
    }
    return tx;
  }

  it('routes each price once, only for symbols in the lists, a tick per frame, following list changes', async () => {
    const batched = await subscribedClient(server, ['winners', 'losers'], clients);
    batched.send({ action: 'subscribe', lists: ['winners'], batch: true });
    const narrow = await subscribedClient(server, ['gappers_up'], clients);
    narrow.send({ action: 'subscribe', lists: ['gappers_up'], batch: true });
    const single = await subscribedClient(server, ['winners', 'losers'], clients);
    await eventually(() => batched.snapshots === 3 && narrow.snapshots === 2, 'resubscribed with batch');

    // BB is in two of `batched`'s lists and must come once; DD is in no list.
    await tickTx([['AA', 1], ['BB', 2], ['CC', 3], ['DD', 4]], 1_000).exec();
    await eventually(() => batched.batches.length === 1 && single.aggregates.length === 3, 'the first tick');
    expect(batched.batchItems()).toEqual([
      { symbol: 'AA', price: 1, time: 1_000, volume: 10 },
      { symbol: 'BB', price: 2, time: 1_000, volume: 10 },
      { symbol: 'CC', price: 3, time: 1_000, volume: 10 },
    ]);
    // Unbatched clients: one `aggregate` message per price, as before.
    expect(single.aggregates).toEqual([
      { type: 'aggregate', symbol: 'AA', price: 1, time: 1_000, volume: 10 },
      { type: 'aggregate', symbol: 'BB', price: 2, time: 1_000, volume: 10 },
      { type: 'aggregate', symbol: 'CC', price: 3, time: 1_000, volume: 10 },
    ]);
    expect(single.batches).toEqual([]);

    // The scanner drops AA from winners and adds CC to gappers_up just before the next tick: the
    // prices that follow are routed by the new lists (read together, the ranking stream goes first).
    const rank = (symbol: string, i: number) => ({ symbol, rank: i + 1, price: 1, change_percent: 1, volume: 1, rvol: 1, market_cap: null });
    const delta = (list: string, deltas: unknown[]) => JSON.stringify({ type: 'delta', list, sequence: 2, deltas, change_count: deltas.length });
    await redis.client
      .multi()
      .set(categoryKey('winners'), JSON.stringify([rank('BB', 0)]))
      .set(categoryKey('gappers_up'), JSON.stringify([rank('EE', 0), rank('CC', 1)]))
      .xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, delta('winners', [{ action: 'remove', symbol: 'AA' }]))
      .xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, delta('gappers_up', [{ action: 'add', symbol: 'CC', data: rank('CC', 1) }]))
      .exec();
    await tickTx([['AA', 5], ['CC', 6], ['EE', 7]], 2_000).exec();
    await eventually(() => batched.batches.length === 2 && narrow.batches.length === 1 && single.aggregates.length === 4, 'the second tick');
    // AA is in no list any more; CC is in losers (batched) and now gappers_up (narrow).
    expect(batched.batches[1]?.message.items?.map((i) => i.symbol)).toEqual(['CC']);
    expect(narrow.batchItems().map((i) => [i.symbol, i.time])).toEqual([
      ['CC', 2_000],
      ['EE', 2_000],
    ]);
    expect(single.aggregates.at(-1)).toMatchObject({ symbol: 'CC', time: 2_000 });

    // batch: false goes back to one message per price.
    batched.send({ action: 'subscribe', lists: ['losers'], batch: false });
    await eventually(() => batched.snapshots === 4, 'resubscribed without batch');
    await tickTx([['BB', 8], ['CC', 9]], 3_000).exec();
    await eventually(() => batched.aggregates.length === 2, 'per-message again');
    expect(batched.batches).toHaveLength(2);
    for (const c of [batched, narrow, single]) expect(c.violations).toEqual([]);
  });
});
