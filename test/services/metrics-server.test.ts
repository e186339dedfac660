import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsServer } from '../../src/services/metrics-server.js';
import { capturedLogger } from './helpers/fake-polygon-ws-view.js';

// The /metrics and /health server of a process without its own HTTP API (the scanner alone),
// over a real socket.

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

async function start(ok = true) {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0, log: capturedLogger().log, health: () => ({ ok, detail: { state: ok ? 'idle' : 'backingOff' } }) });
  stops.push(server.stop);
  return server.url;
}

describe('metrics server', () => {
  it('serves /metrics and /health', async () => {
    const url = await start(false);
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('# TYPE');
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'failing', state: 'backingOff' });
  });

  it('a wrong method on a known path is a 405 with Allow; an unknown path a 404', async () => {
    const url = await start();
    for (const [method, path] of [['POST', '/metrics'], ['DELETE', '/health'], ['PUT', '/metrics?x=1']] as const) {
      const res = await fetch(`${url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect(await res.json()).toEqual({ error: 'method not allowed' });
    }
    const unknown = await fetch(`${url}/nope`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('allow')).toBeNull();
    expect(await unknown.json()).toEqual({ error: 'not found' });
  });
});
