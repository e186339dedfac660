import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';
import { freePort } from '../../src/shared/free-port.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

// Three polygon-ws processes on one API key against the simulator: one leader holds the
// upstream, the others wait. The leader is killed (SIGKILL), paused (SIGSTOP) and cut off from
// Redis in turn; each time a standby takes over, there are never two upstream connections, no
// max_connections kick, and the upstream ends holding exactly the SET.

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
const TTL_MS = 3_000;

/** A TCP proxy to Redis for one process, so that process alone can be cut off. */
async function redisProxy(targetPort: number) {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () => new Promise<void>((res) => server.close(() => res())),
  };
}

interface Replica {
  name: string;
  child: ChildProcess;
  httpPort: number;
  proxy: Awaited<ReturnType<typeof redisProxy>>;
}

async function stateOf(r: Replica): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${r.httpPort}/stats`, { signal: AbortSignal.timeout(1_000) });
    return ((await res.json()) as { state: string }).state;
  } catch {
    return null;
  }
}

describe('polygon-ws replicas on one API key', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let sim: PolygonSimulator;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    expect(existsSync(MAIN), 'run `npm run build` first (npm test does)').toBe(true);
    redis = await startTestRedis();
    // The server drops a client that answers no ping within an interval, as the real one does.
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0, pingIntervalMs: 500 });
    await redis.client.sadd(ACTIVE_TICKERS_KEY, ...Array.from({ length: 30 }, (_, i) => `R${i}`));
    for (const name of ['a', 'b', 'c']) {
      const proxy = await redisProxy(redis.server.port);
      const httpPort = await freePort();
      const child = spawn(process.execPath, [MAIN, '--role', 'polygon-ws'], {
        env: {
          PATH: process.env.PATH,
          REDIS_URL: proxy.url,
          POLYGON_API_KEY: 'sim-key',
          POLYGON_WS_URL: sim.url,
          HTTP_PORT: String(httpPort),
          LEADER_TTL_MS: String(TTL_MS),
          RECONCILE_INTERVAL_MS: '2000',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      replicas.push({ name, child, httpPort, proxy });
    }
  });

  afterAll(async () => {
    for (const r of replicas) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGCONT');
        r.child.kill('SIGKILL');
      }
      await r.proxy.close();
    }
    await sim.close();
    await redis.stop();
  });

  const liveOnes = async () => {
    const states = await Promise.all(replicas.map(async (r) => [r, await stateOf(r)] as const));
    return states.filter(([, s]) => s === 'live').map(([r]) => r);
  };

  const converged = async () => {
    const set = (await redis.client.smembers(ACTIVE_TICKERS_KEY)).sort();
    return JSON.stringify([...sim.acknowledged()].sort()) === JSON.stringify(set);
  };

  /** Wait for exactly one live replica, other than `not`, with the upstream equal to the SET. */
  const newLeader = async (not: Replica | null, what: string): Promise<Replica> => {
    const leader = await eventually(
      async () => {
        const live = await liveOnes();
        return live.length === 1 && live[0] !== not && (await converged()) ? live[0] : null;
      },
      what,
      30_000,
      100,
    );
    return leader;
  };

  it('elects one leader, survives SIGKILL, SIGSTOP and a Redis cut, never with two upstream connections', async () => {
    const first = await newLeader(null, 'a first leader');

    first.child.kill('SIGKILL');
    const second = await newLeader(first, 'a leader after SIGKILL');

    second.child.kill('SIGSTOP');
    const third = await newLeader(second, 'a leader after SIGSTOP');
    second.child.kill('SIGCONT');
    // Back from the pause, it finds its term over and stands by.
    await eventually(async () => (await stateOf(second)) === 'standby', 'the paused leader standing by', 20_000, 100);

    third.proxy.cut();
    const fourth = await newLeader(third, 'a leader after the Redis cut');
    expect(fourth).toBe(second);
    third.proxy.restore();
    await eventually(async () => (await stateOf(third)) === 'standby', 'the cut-off leader standing by', 20_000, 100);

    // The new leader follows the SET like the first did.
    await redis.client.sadd(ACTIVE_TICKERS_KEY, 'NEW1', 'NEW2');
    await redis.client.srem(ACTIVE_TICKERS_KEY, 'R0');
    await eventually(converged, 'the upstream to hold exactly the SET', 20_000, 100);

    const st = sim.stats();
    console.log(
      `replicas: ${st.connectionsTotal} upstream connections in all, at most ${st.maxConcurrentAuthenticated} at once, ` +
        `${st.maxConnectionsKicks} max_connections kicks, ${st.deadPeersDropped} dead peers dropped by the upstream`,
    );
    expect(st.maxConcurrentAuthenticated).toBe(1);
    expect(st.maxConnectionsKicks).toBe(0);
  });
});
