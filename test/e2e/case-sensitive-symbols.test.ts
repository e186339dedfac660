import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolygonWsRole } from '../../src/roles/polygon-ws/index.js';
import type { WsServerHandle } from '../../src/roles/ws-server.js';
import {
  ACTIVE_TICKERS_KEY,
  AGGREGATES_STREAM,
  STREAM_DATA_FIELD,
  SUBSCRIPTIONS_STREAM,
  type Category,
} from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { ListClient } from '../ws-server/helpers/list-client.js';
import { captureLog } from '../ws-server/helpers/log.js';
import { startTestWsServer, subscribedClient, writeLists } from '../ws-server/helpers/ws-server.js';

// Symbols are case-sensitive upstream: preferreds carry a lower-case `p` (`AMpB`, `BCpC`), classes
// a dot (`BRK.B`). SET → polygon-ws → simulator (what it acknowledged is the ground truth) →
// stream:realtime:aggregates → ws-server → browser-protocol clients: every hop keeps each symbol
// exactly as spelled, and never confuses `AMpB` with `AMPB`.

const SET = ['AMpB', 'BCpC', 'BRK.B', 'AAPL'];
const LISTS: Partial<Record<Category, string[]>> = {
  gappers_up: ['AMpB', 'BRK.B'],
  winners: ['BCpC', 'AAPL'],
};
const sorted = (xs: Iterable<string | undefined>) => [...xs].map(String).sort();

describe('case-sensitive symbols end to end', () => {
  let r: Awaited<ReturnType<typeof startTestRedis>>;
  let sim: PolygonSimulator;
  let wsServer: WsServerHandle;
  let role: PolygonWsRole | null = null;
  const clients: ListClient[] = [];
  const wsLog = captureLog('warn');

  beforeAll(async () => {
    r = await startTestRedis();
    sim = await startPolygonSimulator({ aggregateIntervalMs: 200 });
    // What the scanner would have written: the lists (key and snapshot entry) and their union, the SET.
    await writeLists(r.client, LISTS).sadd(ACTIVE_TICKERS_KEY, ...SET).expire(ACTIVE_TICKERS_KEY, 3600).exec();
    wsServer = await startTestWsServer(r.server.url, wsLog.log);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await role?.stop();
    await wsServer?.stop();
    await sim?.close();
    await r?.stop();
  });

  const client = (lists: Category[]): Promise<ListClient> => subscribedClient(wsServer, lists, clients);

  async function streamSymbols(): Promise<string[]> {
    const entries = await r.client.xrange(AGGREGATES_STREAM, '-', '+');
    return entries.map(([, f]) => (JSON.parse(f[f.indexOf(STREAM_DATA_FIELD) + 1] ?? '{}') as { sym: string }).sym);
  }

  it('a SET holding AMpB, BCpC, BRK.B and AAPL is served exactly, and their prices reach Redis and the browsers under their own names', async () => {
    const preferreds = await client(['gappers_up']);
    const commons = await client(['winners']);
    // A slow reconciliation loop: after the first sync, changes must come through the events.
    ({ role } = await startTestPolygonWs({ redisUrl: r.server.url, wsUrl: sim.url, env: { RECONCILE_INTERVAL_MS: '600000' } }));
    const polygonWs = role;

    // 1. The upstream acknowledged exactly the SET, spelled as in the SET.
    await eventually(() => JSON.stringify(sorted(sim.acknowledged())) === JSON.stringify(sorted(SET)), 'the simulator to acknowledge the SET');
    const channels = sim.clientMessages().filter((m) => m.action === 'subscribe').flatMap((m) => m.channels);
    expect(sorted(new Set(channels))).toEqual(sorted(SET.map((s) => `A.${s}`)));
    await eventually(async () => {
      const body = (await (await fetch(`${polygonWs.httpUrl}/subscriptions`)).json()) as { count: number; tickers: string[] };
      return body.count === SET.length && JSON.stringify(sorted(body.tickers)) === JSON.stringify(sorted(SET));
    }, 'GET /subscriptions to list the SET');

    // 2. Their aggregates reach stream:realtime:aggregates, each under its own name, nothing else.
    await eventually(async () => {
      const syms = new Set(await streamSymbols());
      return SET.every((s) => syms.has(s));
    }, 'an aggregate of every symbol in the stream');
    expect(sorted(new Set(await streamSymbols())).filter((s) => !SET.includes(s))).toEqual([]);

    // 3. The browsers get the prices of their lists' symbols, under those names, and no others.
    await eventually(
      () =>
        ['AMpB', 'BRK.B'].every((s) => preferreds.aggregates.some((a) => a.symbol === s)) &&
        ['BCpC', 'AAPL'].every((s) => commons.aggregates.some((a) => a.symbol === s)),
      'prices of every watched symbol at the clients',
    );
    expect(sorted(new Set(preferreds.aggregates.map((a) => a.symbol)))).toEqual(['AMpB', 'BRK.B']);
    expect(sorted(new Set(commons.aggregates.map((a) => a.symbol)))).toEqual(['AAPL', 'BCpC']);
    // An AMpB price at the client is one the upstream sent for AMpB.
    const upstream = (await r.client.xrange(AGGREGATES_STREAM, '-', '+')).map(
      ([, f]) => JSON.parse(f[f.indexOf(STREAM_DATA_FIELD) + 1] ?? '{}') as { sym: string; c: number; e: number },
    );
    const amp = preferreds.aggregates.find((a) => a.symbol === 'AMpB');
    expect(upstream.some((u) => u.sym === 'AMpB' && u.c === amp?.price && u.e === amp?.time)).toBe(true);

    // 4. The event fast path keeps the case too: BCpC leaves, ABRpD arrives (the loop is slow).
    await r.client
      .multi()
      .srem(ACTIVE_TICKERS_KEY, 'BCpC')
      .sadd(ACTIVE_TICKERS_KEY, 'ABRpD')
      .xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'BCpC', 'action', 'unsubscribe', 'source', 'scanner_auto', 'session', 'PRE_MARKET', 'timestamp', new Date().toISOString())
      .xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', 'ABRpD', 'action', 'subscribe', 'source', 'scanner_auto', 'session', 'PRE_MARKET', 'timestamp', new Date().toISOString())
      .exec();
    const next = ['ABRpD', 'AMpB', 'BRK.B', 'AAPL'];
    await eventually(() => JSON.stringify(sorted(sim.acknowledged())) === JSON.stringify(sorted(next)), 'the simulator to follow the events', 10_000);
    await eventually(async () => (await streamSymbols()).includes('ABRpD'), 'an ABRpD aggregate in the stream');

    expect(role.view.status().reconciler.total_drift_detected).toBe(0);
    expect(wsLog.lines.filter((l) => l.event === 'aggregate_entry_invalid')).toEqual([]);
    for (const c of [preferreds, commons]) expect(c.violations).toEqual([]);
  });
});
