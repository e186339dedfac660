import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { startWsServer, type WsServerHandle } from '../../src/roles/ws-server.js';
import { CATEGORIES } from '../../src/shared/redis-keys.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { ListClient } from './helpers/list-client.js';
import { captureLog } from './helpers/log.js';

// ws-server replicas need no coordination: each follows the streams on its own, and clients of
// either get exactly the scanner's lists.

describe('two ws-server replicas on one Redis', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  const servers: WsServerHandle[] = [];
  const clients: ListClient[] = [];
  const captured = captureLog('warn');

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await redis.stop();
  });

  it('clients of each replica end with exactly the scanner’s lists', async () => {
    const scanner = new FakeScanner(redis.client, { seed: 77 });
    await scanner.scan();
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startWsServer({
          config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
          redisUrl: redis.server.url,
          log: captured.log,
          blockMs: 500,
        }),
      );
    }
    for (const s of servers) {
      const c = await ListClient.connect(`${s.url.replace('http', 'ws')}/ws`);
      c.subscribe(CATEGORIES);
      clients.push(c);
    }
    for (let i = 0; i < 10; i++) await scanner.scan();
    for (const [i, c] of clients.entries()) {
      await eventually(
        () => CATEGORIES.every((l) => JSON.stringify(c.rows(l)) === JSON.stringify(scanner.lists.get(l))),
        `replica ${i}: the scanner's lists`,
      );
    }
    expect(clients[0]?.rows('winners')).toEqual(clients[1]?.rows('winners'));
  });
});
