import { afterAll, beforeAll, beforeEach } from 'vitest';
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

/**
 * The usual lifecycle in a describe block: one redis-server for the file, emptied before each
 * test. Read `.current` inside tests (it is set once beforeAll has run).
 */
export function useTestRedis(): { readonly current: Awaited<ReturnType<typeof startTestRedis>> } {
  let r: Awaited<ReturnType<typeof startTestRedis>> | null = null;
  beforeAll(async () => {
    r = await startTestRedis();
  });
  afterAll(async () => {
    await r?.stop();
  });
  beforeEach(async () => {
    await r?.client.flushall();
  });
  return {
    get current() {
      if (!r) throw new Error('useTestRedis: used outside a test');
      return r;
    },
  };
}
