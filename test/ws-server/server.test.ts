import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wait.js';
import { startHubServer } from './helpers/hub-server.js';
import { ListClient } from './helpers/list-client.js';

// The ws-server's HTTP side: a known path asked with a method it does not take is 405 with
// Allow; an unknown path is 404 whatever the method.

describe('ws-server HTTP routes', () => {
  let env: Awaited<ReturnType<typeof startHubServer>>;
  beforeAll(async () => {
    env = await startHubServer();
  });
  afterAll(async () => {
    await env.server.close();
  });

  it.each([
    ['POST', '/health'],
    ['DELETE', '/metrics'],
    ['PUT', '/status'],
    ['POST', '/ws'],
    ['PATCH', '/'],
    ['POST', '/health?x=1'],
  ])('%s %s is 405 with Allow: GET, HEAD', async (method, path) => {
    const res = await fetch(`${env.server.url}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['GET', '/nope'],
    ['POST', '/nope'],
    ['DELETE', '/health/extra'],
  ])('%s %s is 404', async (method, path) => {
    const res = await fetch(`${env.server.url}${path}`, { method });
    expect(res.status).toBe(404);
    expect(res.headers.get('allow')).toBeNull();
  });

  it('answers GET and HEAD on the known paths', async () => {
    expect((await fetch(`${env.server.url}/health`)).status).toBe(200);
    expect((await fetch(`${env.server.url}/metrics`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${env.server.url}/ws`)).status).toBe(426);
    expect((await fetch(`${env.server.url}/`)).status).toBe(200);
  });

  it('serves the hub counters as Prometheus series: the same numbers, counted once', async () => {
    const c = await ListClient.connect(`${env.server.url.replace('http', 'ws')}/ws`);
    c.send('not json');
    c.send({ action: 'subscribe', lists: ['winners'], batch: 'yes' });
    await eventually(() => c.errors.length === 2, 'two errors');
    const text = await (await fetch(`${env.server.url}/metrics`)).text();
    const value = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    // One hub in this test file's process: the series are its tally.
    expect(value('livescan_ws_server_clients')).toBe(env.hub.stats.clients);
    expect(value('livescan_ws_server_connections_total')).toBe(env.hub.stats.connections);
    expect(value('livescan_ws_server_client_errors_total{code="invalid_json"}')).toBe(1);
    expect(value('livescan_ws_server_client_errors_total{code="invalid_batch"}')).toBe(1);
    expect(value('livescan_ws_server_messages_out_total{type="error"}')).toBe(env.hub.stats.messages_out.error);
    expect(text).toMatch(/^# TYPE livescan_ws_server_messages_out_total counter$/m);
    await c.close();
  });
});
