import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';

// polygon-ws as a user runs it: `node main.js --role polygon-ws` in its own process, with
// production defaults, so its work and the measuring side's do not share an event loop.

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface PolygonWsProcess {
  httpUrl: string;
  child: ChildProcess;
  stats(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startPolygonWsProcess(opts: {
  redisUrl: string;
  wsUrl: string;
  logFile: string;
  env?: Record<string, string>;
  /** e.g. ['--cpu-prof'] to profile it. */
  nodeArgs?: string[];
}): Promise<PolygonWsProcess> {
  const port = await freePort();
  const main = new URL('../../src/main.js', import.meta.url).pathname;
  // Its log goes straight to the file: piped through this process, it would compete with the
  // measuring side for this event loop.
  const logFd = openSync(opts.logFile, 'w');
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), main, '--role', 'polygon-ws'], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_URL: opts.redisUrl,
      POLYGON_API_KEY: 'sim-key',
      POLYGON_WS_URL: opts.wsUrl,
      HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      POLYGON_WS_CONSUMER: `bench-${process.pid}`,
      ...opts.env,
    },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  // A bench that fails half-way must not leave a polygon-ws behind to skew the next run.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`polygon-ws exited with ${child.exitCode}; see ${opts.logFile}`);
    try {
      await fetch(`${httpUrl}/health`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`polygon-ws did not answer on ${httpUrl}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    httpUrl,
    child,
    stats: async () => (await (await fetch(`${httpUrl}/stats`)).json()) as Record<string, unknown>,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
