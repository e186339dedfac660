import type { ChainableCommander, Redis } from 'ioredis';
import { loadConfig } from '../../../src/config/env.js';
import { startWsServer, type WsServerHandle } from '../../../src/roles/ws-server.js';
import type { Logger } from '../../../src/shared/logger.js';
import { RANKING_DELTAS_STREAM, STREAM_DATA_FIELD, categoryKey, type Category } from '../../../src/shared/redis-keys.js';
import { eventually } from '../../helpers/wait.js';
import { ListClient } from './list-client.js';

/** A ws-server on a free loopback port with test-friendly timings. */
export function startTestWsServer(redisUrl: string, log: Logger): Promise<WsServerHandle> {
  return startWsServer({
    config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
    redisUrl,
    log,
    blockMs: 1_000,
    statusIntervalMs: 1_000,
  });
}

/** What a scanner writes for each list, its key and a snapshot entry, in one MULTI left open for more. */
export function writeLists(redis: Redis, lists: Partial<Record<Category, string[]>>): ChainableCommander {
  const tx = redis.multi();
  for (const [list, symbols] of Object.entries(lists)) {
    const rows = symbols.map((symbol, i) => ({ symbol, rank: i + 1, price: 10 + i, change_percent: 5, volume: 1e6, rvol: 2, market_cap: null }));
    tx.set(categoryKey(list as Category), JSON.stringify(rows));
    tx.xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ type: 'snapshot', list, sequence: 1, rows }));
  }
  return tx;
}

/** A browser-protocol client of `server`, subscribed to `lists` and holding their snapshots; kept in `clients` to close. */
export async function subscribedClient(server: WsServerHandle, lists: Category[], clients: ListClient[]): Promise<ListClient> {
  const c = await ListClient.connect(`${server.url.replace('http', 'ws')}/ws`);
  clients.push(c);
  c.subscribe(lists);
  await eventually(() => c.snapshots === lists.length, 'snapshots');
  return c;
}
