import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../shared/free-port.js';

// A private redis-server child on a free loopback port: what `node dist/main.js` runs when no
// REDIS_URL is given, and what the tests start. It persists nothing and dies with its parent.

export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Stop and start again on the same port (data is lost, as after a real crash without persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export class RedisServerMissingError extends Error {
  constructor() {
    super('redis-server is not installed: run `sh scripts/ensure-deps.sh` (installs Debian\'s redis-server) or set REDIS_URL');
    this.name = 'RedisServerMissingError';
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function waitReady(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

export async function startEmbeddedRedis(opts: { port?: number; bin?: string } = {}): Promise<EmbeddedRedis> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'livescan-redis-'));
  const bin = opts.bin ?? 'redis-server';
  let child: ChildProcess;

  const launch = async () => {
    child = spawn(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new RedisServerMissingError() : err),
      );
    });
    await spawned;
    await waitReady(port, child, 10_000);
  };

  const kill = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });

  // A parent that dies without stop() must not leave an orphan behind.
  const onExit = () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid;
    },
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      process.removeListener('exit', onExit);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
