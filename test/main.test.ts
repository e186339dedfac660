import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../src/shared/free-port.js';
import { eventually } from './helpers/wait.js';
import { baseEnv, MAIN, processesWithMarker, spawnLivescan } from './helpers/livescan-process.js';

// `node dist/main.js` as a user runs it (built by the test command before the tests).


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
    for (const word of ['scanner', 'polygon-ws', 'ws-server', 'REDIS_URL', 'POLYGON_API_KEY', 'RECONCILE_INTERVAL_MS', 'WS_SERVER_PORT', '--check', 'SIMULATOR_STORM_MS', 'SIMULATOR_KICK_EVERY_MS']) {
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
    const run = spawnLivescan([], { ...baseEnv(), HTTP_PORT: String(httpPort), WS_SERVER_PORT: String(wsPort), SCAN_INTERVAL_MS: '1000' });
    const { child, lines, exited } = run;
    try {
      const started = await eventually(() => lines.find((l) => l.event === 'embedded_redis_started'), 'embedded redis', 30_000);
      const redisPid = started.redis_pid as number;
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
      // A clean stop closes our own Redis connections: no warning about losing them.
      const stopAt = lines.findIndex((l) => l.event === 'shutdown_started');
      expect(lines.slice(stopAt).filter((l) => l.event === 'redis_connection_lost')).toEqual([]);
      // One `pid` key per line: the embedded redis-server's is `redis_pid`.
      for (const line of run.output().split('\n').filter((l) => l.startsWith('{'))) expect(line.match(/"pid":/g)?.length ?? 0).toBeLessThanOrEqual(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--inspect relays the running actor system to an inspector client on loopback', async () => {
    const [httpPort, inspectPort] = [await freePort(), await freePort()];
    const ls = spawnLivescan(['--role', 'polygon-ws', '--inspect'], { ...baseEnv(), HTTP_PORT: String(httpPort), INSPECT_PORT: String(inspectPort) });
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
      expect(await ls.stop()).toBe(0);
    } finally {
      await ls.stop(1_000);
    }
  });

  for (const [variable, args] of [
    ['HTTP_PORT', []],
    ['WS_SERVER_PORT', []],
    ['SCANNER_HTTP_PORT', ['--role', 'scanner']],
    ['INSPECT_PORT', ['--inspect']],
  ] as const) {
    it(`a taken ${variable}: exits 3 before starting anything, naming the variable and hinting at another livescan`, async () => {
      const holder = net.createServer();
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
      const taken = (holder.address() as net.AddressInfo).port;
      const ports: Record<string, string> = {
        HTTP_PORT: String(await freePort()),
        WS_SERVER_PORT: String(await freePort()),
        SCANNER_HTTP_PORT: String(await freePort()),
        INSPECT_PORT: String(await freePort()),
      };
      const ls = spawnLivescan(args, { ...baseEnv(), ...ports, [variable]: String(taken) });
      try {
        expect(await ls.exited).toBe(3);
        const out = ls.output();
        expect(out).toContain(`port 127.0.0.1:${taken} (${variable}) is already in use`);
        expect(out).toMatch(/another livescan running\? Stop it, or set [A-Z_]+ to a free port/);
        expect(out).not.toContain('EADDRINUSE');
        // Nothing was started, so nothing is left: no redis-server, no simulator, no port bound.
        expect(ls.lines.map((l) => l.event)).toEqual([]);
        expect(processesWithMarker(ls.marker)).toEqual([]);
        for (const [name, port] of Object.entries(ports)) {
          if (name === variable) continue;
          const free = await new Promise<boolean>((resolve) => {
            const probe = net.createServer();
            probe.once('error', () => resolve(false));
            probe.listen(Number(port), '127.0.0.1', () => probe.close(() => resolve(true)));
          });
          expect(free, `${name} left bound`).toBe(true);
        }
      } finally {
        await ls.stop(1_000);
        holder.close();
      }
    });
  }

  it('--check: 0 with free ports, 3 with a taken one, and starts nothing', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const ok = spawnSync(process.execPath, [MAIN, '--check'], { env: { ...baseEnv(), HTTP_PORT: String(a), WS_SERVER_PORT: String(b) }, encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('ports free');
    const twin = spawnSync(process.execPath, [MAIN, '--check'], { env: { ...baseEnv(), HTTP_PORT: String(a), WS_SERVER_PORT: String(a) }, encoding: 'utf8' });
    expect(twin.status).toBe(3);
    expect(twin.stderr).toContain(`HTTP_PORT and WS_SERVER_PORT are both ${a}`);
  });

  it('an unreachable REDIS_URL: one clear line, no ioredis option text, redis_unreachable in the start line and /health, SIGTERM still exits 0', async () => {
    const [httpPort, wsPort, deadRedis] = [await freePort(), await freePort(), await freePort()];
    const ls = spawnLivescan([], {
      ...baseEnv(),
      HTTP_PORT: String(httpPort),
      WS_SERVER_PORT: String(wsPort),
      REDIS_URL: `redis://:s3cret-pass@127.0.0.1:${deadRedis}/0`,
    });
    try {
      const line = await eventually(() => ls.lines.find((l) => l.event === 'redis_unreachable'), 'the redis_unreachable line', 30_000);
      expect(line.level).toBe('error');
      expect(line.where).toBe(`127.0.0.1:${deadRedis}`);
      expect(String(line.hint)).toContain('REDIS_URL');
      const started = await eventually(() => ls.lines.find((l) => l.event === 'livescan_started'), 'started', 30_000);
      expect(started.redis).toBe('unreachable');
      const health = await eventually(
        async () => {
          const res = await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => null);
          return res ? { status: res.status, body: (await res.json()) as Record<string, unknown> } : null;
        },
        'polygon-ws /health',
        20_000,
        200,
      );
      expect(health.status).toBe(503);
      expect(health.body.state).toBe('redis_unreachable');
      // Let the roles retry a few times: the same cause must not turn into a stream of lines.
      await new Promise((r) => setTimeout(r, 6_000));
      const out = ls.output();
      expect(out).not.toContain('maxRetriesPerRequest');
      expect(out).not.toContain('s3cret-pass');
      expect(ls.lines.filter((l) => l.event === 'redis_unreachable')).toHaveLength(1);
      expect(ls.lines.filter((l) => l.event === 'redis_connection_lost' && l.level === 'warn').length).toBeLessThanOrEqual(1);
      expect(await ls.stop()).toBe(0);
      expect(processesWithMarker(ls.marker)).toEqual([]);
    } finally {
      await ls.stop(1_000);
    }
  }, 90_000);
});
