import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/services/embedded-redis.js';
import { connectRedis, describeRedisTarget, probeRedis, redisHealth } from '../../src/services/redis-connection.js';
import { freePort } from '../../src/shared/free-port.js';
import { createLogger } from '../../src/shared/logger.js';
import { eventually } from '../helpers/wait.js';

// Against a real redis-server and a port where none listens: what the process says about Redis
// (one line per outage, none for its own clean stop), what a failed command says, and the
// process-wide health the banner and /health read.

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination }) };
}

describe('redis connections', () => {
  let server: EmbeddedRedis;
  beforeAll(async () => {
    server = await startEmbeddedRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a clean stop (quit, disconnect) logs no redis_connection_lost', async () => {
    const { lines, log } = capture();
    const a = connectRedis(server.url, { name: 'a', purpose: 'commands', log });
    const b = connectRedis(server.url, { name: 'b', purpose: 'blocking', log });
    await a.ping();
    await b.ping();
    expect(redisHealth().reachable).toBe(true);
    const ended = Promise.all([a, b].map((c) => new Promise((r) => c.once('end', r))));
    await a.quit();
    b.disconnect();
    // 'end' comes after 'close', the event a lost connection would have warned on.
    await ended;
    expect(lines.filter((l) => l.event === 'redis_connection_lost')).toEqual([]);
    expect(redisHealth().reachable).toBe(true);
  });

  it('a connection given up while it waits to reconnect no longer counts as down', async () => {
    const { log } = capture();
    const port = await freePort();
    const conn = connectRedis(`redis://127.0.0.1:${port}`, { name: 'abandoned', purpose: 'blocking', log });
    await eventually(() => conn.status === 'reconnecting', 'the connection waiting to reconnect');
    expect(redisHealth().reachable).toBe(false);
    // ioredis emits no 'end' here: the health must not depend on it.
    conn.disconnect();
    expect(redisHealth().reachable).toBe(true);
  });

  it('an unreachable Redis: one warning for the process, commands fail saying where, health says so; then restored once', async () => {
    const port = await freePort();
    const url = `redis://:pw-123456@127.0.0.1:${port}`;
    expect(describeRedisTarget(url)).toBe(`127.0.0.1:${port}`);
    const { lines, log } = capture();
    const conns = ['x', 'y', 'z'].map((name) => connectRedis(url, { name, purpose: 'commands', log }));
    try {
      const err = await conns[0]!.get('k').then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(new RegExp(`^Redis unreachable at 127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED`));
      expect(err?.message).not.toContain('maxRetriesPerRequest');
      expect(err?.message).not.toContain('pw-123456');
      await eventually(() => lines.filter((l) => l.event === 'redis_connection_lost').length === 1, 'the one warning');
      const health = redisHealth();
      expect(health).toMatchObject({ reachable: false, where: `127.0.0.1:${port}` });
      expect(health.error).toContain('ECONNREFUSED');
      // Three more failed reconnects of every connection: still the one warning.
      const retried = (c: (typeof conns)[number]) =>
        new Promise<void>((resolve) => {
          let n = 0;
          const on = () => {
            if (++n < 3) return;
            c.off('reconnecting', on);
            resolve();
          };
          c.on('reconnecting', on);
        });
      await Promise.all(conns.map(retried));
      expect(lines.filter((l) => l.event === 'redis_connection_lost')).toHaveLength(1);

      const late = await startEmbeddedRedis({ port });
      try {
        await eventually(() => redisHealth().reachable, 'reachable again', 10_000, 50);
        await Promise.all(conns.map((c) => c.ping()));
        expect(lines.filter((l) => l.event === 'redis_connection_restored')).toHaveLength(1);
      } finally {
        for (const c of conns) c.disconnect();
        await late.stop();
      }
    } finally {
      for (const c of conns) c.disconnect();
    }
  });

  it('probeRedis: null when Redis answers, the reason when not (and the health says so until a connection is ready)', async () => {
    expect(await probeRedis({ url: server.url })).toBeNull();
    const port = await freePort();
    const why = await probeRedis({ url: `redis://127.0.0.1:${port}` }, 500);
    expect(why).toContain('ECONNREFUSED');
    expect(redisHealth()).toMatchObject({ reachable: false, where: `127.0.0.1:${port}` });
    const { log } = capture();
    const c = connectRedis(server.url, { name: 'ok', purpose: 'commands', log });
    await c.ping();
    expect(redisHealth().reachable).toBe(true);
    c.disconnect();
  });
});
