import net from 'node:net';
import { Writable } from 'node:stream';
import { createWebSocketInspector } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assign, createActor, setup, type AnyActor } from 'xstate';
import { startInspector, safeJson, type RunningInspector } from '../../src/services/inspector.js';
import { freePort } from '../../src/shared/free-port.js';
import { createLogger } from '../../src/shared/logger.js';
import { eventually } from '../helpers/wait.js';

const SECRET = 'pk_live_DO_NOT_LEAK_42';

const counter = setup({
  types: { context: {} as { count: number; apiKey: string }, events: {} as { type: 'GO' } | { type: 'TICK' } | { type: 'STOP' } },
}).createMachine({
  id: 'counter',
  context: { count: 0, apiKey: SECRET },
  initial: 'idle',
  states: {
    idle: { on: { GO: 'running' } },
    running: { on: { TICK: { actions: assign({ count: ({ context }) => context.count + 1 }) }, STOP: 'done' } },
    done: { type: 'final' },
  },
});

interface Frame {
  type: string;
  sessionId: string;
  name?: string;
  event?: { type: string };
  snapshot?: { value?: unknown; context?: { count?: number }; status?: string };
}

function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: 'info', destination }), lines };
}

interface Client {
  ws: WebSocket;
  frames: Frame[];
  raw: string[];
  closed: boolean;
}

function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const client: Client = { ws, frames: [], raw: [], closed: false };
    ws.on('message', (data) => {
      const text = data.toString();
      client.raw.push(text);
      client.frames.push(JSON.parse(text) as Frame);
    });
    ws.on('close', () => {
      client.closed = true;
    });
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

let inspector: RunningInspector | null = null;
const actors: AnyActor[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const a of actors.splice(0)) a.stop();
  for (const c of clients.splice(0)) c.ws.terminate();
  await inspector?.stop();
  inspector = null;
});

describe('startInspector', () => {
  it('relays actor registration, events and snapshots to a WebSocket client, then stops and frees the port', async () => {
    const { log, lines } = capture();
    const port = await freePort();
    inspector = await startInspector({ port, log, secrets: [SECRET] });
    expect(inspector.url).toBe(`ws://127.0.0.1:${port}`);
    expect(inspector.openUrl).toBe(`http://127.0.0.1:${port}/`);
    const started = lines.find((l) => l.event === 'inspector_started');
    expect(started).toMatchObject({ url: inspector.url, open: inspector.openUrl, inspector: 'https://stately.ai/inspect' });

    const client = await connect(inspector.url);
    clients.push(client);
    const actor = createActor(counter, { inspect: inspector.inspect });
    actors.push(actor);
    actor.start();
    actor.send({ type: 'GO' });
    actor.send({ type: 'TICK' });
    actor.send({ type: 'TICK' });

    const mine = (f: Frame) => f.sessionId === actor.sessionId;
    await eventually(() => client.frames.some((f) => mine(f) && f.type === '@xstate.actor' && f.name === 'counter'), 'actor registration');
    await eventually(() => client.frames.some((f) => mine(f) && f.type === '@xstate.event' && f.event?.type === 'GO'), 'GO event');
    await eventually(
      () => client.frames.some((f) => mine(f) && f.type === '@xstate.snapshot' && f.snapshot?.value === 'running' && f.snapshot.context?.count === 2),
      'snapshot after two TICKs',
    );
    expect(client.raw.join('\n')).not.toContain(SECRET);
    expect(client.raw.join('\n')).toContain('"apiKey":"[redacted]"');
    expect(inspector.clientCount()).toBe(1);

    await inspector.stop();
    await inspector.stop(); // idempotent
    await eventually(() => client.closed, 'client closed by stop()');
    expect(await refused('127.0.0.1', port)).toBe(true);
    expect(lines.some((l) => l.event === 'inspector_stopped')).toBe(true);
    inspector = null;
  });

  it('listens on 127.0.0.1 only', async () => {
    const { log } = capture();
    inspector = await startInspector({ port: 0, log });
    expect(await refused('127.0.0.1', inspector.port)).toBe(false);
    // 127.0.0.2 is this machine too (the loopback range), but not the address we bound
    expect(await refused('127.0.0.2', inspector.port)).toBe(true);
  });

  it('replays who exists and their latest state to a browser that connects late', async () => {
    const { log } = capture();
    inspector = await startInspector({ port: 0, log, replayEvents: 2 });
    const actor = createActor(counter, { inspect: inspector.inspect });
    actors.push(actor);
    actor.start();
    actor.send({ type: 'GO' });
    for (let i = 0; i < 5; i++) actor.send({ type: 'TICK' });
    // inspection events are converted on a timer: let them reach the relay first
    const watcher = await connect(inspector.url);
    clients.push(watcher);
    await eventually(() => watcher.frames.some((f) => f.type === '@xstate.snapshot' && f.snapshot?.context?.count === 5), 'last TICK seen');

    const late = await connect(inspector.url);
    clients.push(late);
    await eventually(() => late.frames.length >= 2, 'replay');
    expect(late.frames[0]).toMatchObject({ type: '@xstate.actor', sessionId: actor.sessionId, name: 'counter' });
    expect(late.frames.some((f) => f.type === '@xstate.snapshot' && f.snapshot?.context?.count === 5)).toBe(true);
  });

  it('relays what another process publishes with createWebSocketInspector, and ignores bad frames', async () => {
    const { log, lines } = capture();
    inspector = await startInspector({ port: 0, log });
    const browser = await connect(inspector.url, { Origin: 'http://localhost:8010' });
    clients.push(browser);

    const remote = createWebSocketInspector({ url: inspector.url });
    try {
      remote.actor('remote-actor', { status: 'active', context: { n: 1 } });
      remote.event('remote-actor', { type: 'PING' });
      await eventually(() => browser.frames.some((f) => f.sessionId === 'remote-actor' && f.type === '@xstate.event'), 'relayed remote event');
    } finally {
      remote.stop();
    }

    const junk = await connect(inspector.url);
    clients.push(junk);
    junk.ws.send('not json');
    junk.ws.send(JSON.stringify({ hello: 'world' }));
    await eventually(() => lines.filter((l) => l.event === 'inspector_bad_message').length === 2, 'bad frames logged');
    expect(browser.raw.some((r) => r.includes('hello'))).toBe(false);
  });

  it('refuses WebSocket connections from web pages of other sites', async () => {
    const { log, lines } = capture();
    inspector = await startInspector({ port: 0, log });
    await expect(connect(inspector.url, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);
    expect(lines.some((l) => l.event === 'inspector_client_rejected' && l.origin === 'https://evil.example')).toBe(true);
    expect(inspector.clientCount()).toBe(0);
  });

  it('serves the bridge page that embeds the Stately inspector', async () => {
    const { log } = capture();
    inspector = await startInspector({ port: 0, log });
    const res = await fetch(inspector.openUrl);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('"https://stately.ai/inspect"');
    expect(html).toContain('@statelyai.connected');
    expect((await fetch(`${inspector.openUrl}other`)).status).toBe(404);
  });

  it('fails clearly when the port is taken', async () => {
    const { log } = capture();
    inspector = await startInspector({ port: 0, log });
    await expect(startInspector({ port: inspector.port, log })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('safeJson', () => {
  it('survives cycles, BigInt, errors, maps, sets and functions', () => {
    const a: Record<string, unknown> = { n: 1n, err: new Error('boom'), m: new Map([['k', 1]]), s: new Set([1, 2]), f: function named() {} };
    a.self = a;
    expect(JSON.parse(safeJson(a))).toEqual({
      n: '1',
      err: { name: 'Error', message: 'boom' },
      m: [['k', 1]],
      s: [1, 2],
      f: { type: 'named' },
      self: '[Circular]',
    });
  });
});
