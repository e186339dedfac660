import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WsServerHandle } from '../../src/roles/ws-server.js';
import { AGGREGATES_STREAM, STREAM_DATA_FIELD, type Category } from '../../src/shared/redis-keys.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { ListClient } from './helpers/list-client.js';
import { captureLog } from './helpers/log.js';
import { startTestWsServer, subscribedClient, writeLists } from './helpers/ws-server.js';

// Symbols are case-sensitive upstream: `AMpB` (a preferred) and `AMPB` are two symbols. The
// ws-server routes a price read from Redis to the clients whose lists hold that exact spelling,
// and to nobody else, and sends it under that spelling.

describe('ws-server routes aggregates by the exact symbol', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let server: WsServerHandle;
  const captured = captureLog('warn');
  const clients: ListClient[] = [];
  const lists: Partial<Record<Category, string[]>> = {
    gappers_up: ['AMpB', 'BRK.B'],
    winners: ['AMPB', 'AAPL'],
    losers: ['BCpC'],
  };

  beforeAll(async () => {
    redis = await startTestRedis();
    // What a scanner writes: each list's key and a snapshot entry, together.
    await writeLists(redis.client, lists).exec();
    server = await startTestWsServer(redis.server.url, captured.log);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.stop();
    await redis?.stop();
  });

  const client = (subscribed: Category[]): Promise<ListClient> => subscribedClient(server, subscribed, clients);

  it('sends AMpB to the client holding AMpB, not to the one holding AMPB, and the other way round', async () => {
    const preferred = await client(['gappers_up']);
    const common = await client(['winners']);
    const both = await client(['gappers_up', 'winners', 'losers']);
    expect(preferred.rows('gappers_up')?.map((r) => r.symbol)).toEqual(['AMpB', 'BRK.B']);
    expect(common.rows('winners')?.map((r) => r.symbol)).toEqual(['AMPB', 'AAPL']);

    const t = 1_764_089_336_000;
    const sent = ['AMpB', 'AMPB', 'BRK.B', 'BCpC', 'AAPL', 'ampb', 'BRK.b'];
    for (const [i, sym] of sent.entries()) {
      const ev = { ev: 'A', sym, v: 100, av: 1000, op: 20, vw: 20, o: 20, c: 20 + i, h: 21, l: 19, a: 20, z: 10, s: t - 1000, e: t };
      await redis.client.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify(ev));
    }
    // End markers (price -1), one for each list, so every client knows the round is over.
    for (const sym of ['AAPL', 'BRK.B']) {
      await redis.client.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ ev: 'A', sym, o: 1, c: -1, h: 1, l: 1, v: 1, s: t, e: t + 1 }));
    }
    const markers = (c: ListClient) => c.aggregates.filter((a) => a.price === -1).length;
    await eventually(() => markers(preferred) === 1 && markers(common) === 1 && markers(both) === 2, 'the end markers');

    const got = (c: ListClient) => c.aggregates.filter((a) => a.price !== -1).map((a) => [a.symbol, a.price]);
    expect(got(preferred)).toEqual([
      ['AMpB', 20],
      ['BRK.B', 22],
    ]);
    expect(got(common)).toEqual([
      ['AMPB', 21],
      ['AAPL', 24],
    ]);
    expect(got(both)).toEqual([
      ['AMpB', 20],
      ['AMPB', 21],
      ['BRK.B', 22],
      ['BCpC', 23],
      ['AAPL', 24],
    ]);
    // `ampb` cannot be a symbol (a lower-case root) and is dropped; `BRK.b` is valid but nobody's.
    expect(captured.lines.filter((l) => l.event === 'aggregate_entry_invalid').map((l) => l.reason)).toEqual(['bad_symbol']);
    for (const c of [preferred, common, both]) expect(c.violations).toEqual([]);
  });
});
