import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../src/shared/free-port.js';
import { eventually } from './helpers/wait.js';

// `node dist/main.js` as a user runs it (built by the test command before the tests).

const MAIN = new URL('../dist/main.js', import.meta.url).pathname;
const baseEnv = () => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info' };
  return env;
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('node dist/main.js', () => {
  it('is built', () => {
    expect(existsSync(MAIN), 'run `npm run build` (npm test does it)').toBe(true);
  });

  it('--help lists the roles and every variable, and exits 0', () => {
    const r = spawnSync(process.execPath, [MAIN, '--help'], { env: baseEnv(), encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const word of ['scanner', 'polygon-ws', 'ws-server', 'REDIS_URL', 'POLYGON_API_KEY', 'RECONCILE_INTERVAL_MS', 'WS_SERVER_PORT']) {
      expect(r.stdout).toContain(word);
    }
  });

  it('a bad variable or argument gives a clear message and a non-zero exit', () => {
    const bad = spawnSync(process.execPath, [MAIN], { env: { ...baseEnv(), HTTP_PORT: 'eighty' }, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/HTTP_PORT must be an integer/);
    const secret = spawnSync(process.execPath, [MAIN], { env: { ...baseEnv(), REDIS_URL: 'redis://:hunter2-password@/:::' }, encoding: 'utf8' });
    expect(secret.status).toBe(2);
    expect(secret.stderr).toContain('REDIS_URL');
    expect(secret.stderr).not.toContain('hunter2-password');
    const role = spawnSync(process.execPath, [MAIN, '--role', 'trader'], { env: baseEnv(), encoding: 'utf8' });
    expect(role.status).toBe(2);
    expect(role.stderr).toContain('unknown role "trader"');
  });

  it('with no configuration: serves lists on the dashboard, polygon-ws becomes ready, SIGTERM exits 0 leaving no redis-server', async () => {
    const [httpPort, wsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [MAIN], {
      env: { ...baseEnv(), HTTP_PORT: String(httpPort), WS_SERVER_PORT: String(wsPort), SCAN_INTERVAL_MS: '1000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not JSON */
        }
      }
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      const started = await eventually(() => lines.find((l) => l.event === 'embedded_redis_started'), 'embedded redis', 30_000);
      const redisPid = started.pid as number;
      expect(alive(redisPid)).toBe(true);
      await eventually(() => lines.find((l) => l.event === 'livescan_started'), 'started', 30_000);
      await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => null))?.status === 200, 'polygon-ws ready', 45_000, 200);

      const page = await fetch(`http://127.0.0.1:${wsPort}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const snapshot = await new Promise<{ type: string; list: string; rows: unknown[] }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/ws`);
        ws.on('open', () => ws.send(JSON.stringify({ action: 'subscribe', lists: ['high_volume'] })));
        ws.on('message', (d: WebSocket.RawData) => {
          const m = JSON.parse(d.toString()) as { type: string; list: string; rows: unknown[] };
          if (m.type === 'snapshot' && m.rows.length > 0) {
            ws.close();
            resolve(m);
          }
        });
        ws.on('error', reject);
      });
      expect(snapshot.list).toBe('high_volume');

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await eventually(() => !alive(redisPid), 'the embedded redis-server gone', 10_000);
      expect(lines.some((l) => l.event === 'shutdown_complete')).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--inspect relays the running actor system to an inspector client on loopback', async () => {
    const [httpPort, inspectPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [MAIN, '--role', 'polygon-ws', '--inspect'], {
      env: { ...baseEnv(), HTTP_PORT: String(httpPort), INSPECT_PORT: String(inspectPort) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/stats`).catch(() => null))?.status === 200, 'polygon-ws up', 30_000, 200);
      const seen = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${inspectPort}`);
        ws.on('message', (d: WebSocket.RawData) => {
          const text = d.toString();
          if (text.includes('reconciler') || text.includes('connection')) {
            ws.close();
            resolve(text);
          }
        });
        ws.on('error', reject);
      });
      expect(seen.length).toBeGreaterThan(0);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
