import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/services/embedded-redis.js';

/** A real redis-server on a free port, and a client on it, for one test file. */
export async function startTestRedis(): Promise<{ server: EmbeddedRedis; client: Redis; stop: () => Promise<void> }> {
  const server = await startEmbeddedRedis();
  const client = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: false });
  return {
    server,
    client,
    stop: async () => {
      client.disconnect();
      await server.stop();
    },
  };
}
