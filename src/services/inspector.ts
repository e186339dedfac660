import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { InspectionEvent, Observer } from 'xstate';
import { scrubText, type Logger } from '../shared/logger.js';
import { counter, gauge } from '../shared/metrics.js';

// Live inspection of the actor system with the Stately inspector (--inspect / INSPECT=1).
//
// What @statelyai/inspect 0.7.2 offers, read from its source: `createInspectorServer()`
// (@statelyai/inspect/server) is an HTTP + WebSocket relay that calls `listen(port)` with no host,
// so it listens on every interface, has no option to change that, and its `stop()` leaves open
// sockets (and the process) alive. Its HTTP answer is a "bridge" page that embeds
// https://stately.ai/inspect in an iframe, opens a WebSocket back to the relay and hands each
// message to the iframe with postMessage once the iframe says `@statelyai.connected`. The web
// inspector takes no server address of its own (no `?server=` parameter): the page to open is
// the bridge, served by the relay.
//
// So this module keeps the package's event format and inspector core (`createInspector`, which
// turns XState inspection events into Stately ones) and runs its own relay on 127.0.0.1: the same
// protocol (JSON text frames; any client may publish, every other client receives; history is
// replayed to late joiners), plus a stop() that really stops, an Origin check so no web page but
// the bridge can read the actors' state, and a replay that keeps each actor's registration and
// latest snapshot however long the storm of events since.

export interface InspectorOptions {
  /** 0 picks a free port. Always bound to 127.0.0.1. */
  port: number;
  log: Logger;
  /** Values that must never leave the process (API key...): replaced wherever they appear. */
  secrets?: readonly string[];
  /** Recent events and snapshots replayed to a browser that connects late. */
  replayEvents?: number;
  /** Actor registrations kept for late joiners; the oldest child actors are forgotten first. */
  maxActors?: number;
  /** The Stately web inspector the bridge page embeds. */
  inspectorUrl?: string;
}

export interface RunningInspector {
  /** Pass to `createActor(machine, { inspect })` for every root actor. */
  inspect: Observer<InspectionEvent>;
  /** The relay's WebSocket endpoint (for another process's `createWebSocketInspector({ url })`). */
  url: string;
  /** The page to open in a browser: it embeds the Stately inspector and feeds it. */
  openUrl: string;
  port: number;
  clientCount(): number;
  stop(): Promise<void>;
}

export const DEFAULT_INSPECTOR_UI = 'https://stately.ai/inspect';
const HOST = '127.0.0.1';
const MAX_DEPTH = 10;
/** A browser that cannot keep up is dropped rather than buffered without bound. */
const MAX_CLIENT_BUFFER = 32 * 1024 * 1024;

const clientsGauge = gauge('livescan_inspector_clients', 'WebSocket clients connected to the inspector relay.');
const eventsTotal = counter('livescan_inspector_events_total', 'Inspection events relayed, by origin.', ['origin']);
const rejectedTotal = counter('livescan_inspector_rejected_total', 'Inspector connections or messages refused, by reason.', ['reason']);

interface Relayed {
  type: string;
  sessionId: string;
  parentId?: string;
  status?: string;
}

export async function startInspector(opts: InspectorOptions): Promise<RunningInspector> {
  const { log } = opts;
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
  const replayLimit = opts.replayEvents ?? 1000;
  const maxActors = opts.maxActors ?? 1000;
  const inspectorUrl = opts.inspectorUrl ?? DEFAULT_INSPECTOR_UI;

  // What a browser that connects now must see: who exists, in what state, and what just happened.
  const actors = new Map<string, { actor: string; parentId: string | undefined; snapshot: string | null }>();
  const recent: string[] = [];
  let stopped = false;

  const httpServer = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bridgePage(inspectorUrl));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });

  httpServer.on('upgrade', (req, socket, head) => {
    const origin = req.headers.origin;
    if (stopped || !isLocalOrigin(origin)) {
      rejectedTotal.inc({ reason: stopped ? 'stopping' : 'origin' });
      log.warn({ event: 'inspector_client_rejected', origin: origin ?? null, reason: stopped ? 'stopping' : 'origin' });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    clientsGauge.set(wss.clients.size);
    log.info({ event: 'inspector_client_connected', clients: wss.clients.size, origin: req.headers.origin ?? null });
    for (const a of actors.values()) ws.send(a.actor);
    for (const a of actors.values()) if (a.snapshot) ws.send(a.snapshot);
    for (const msg of recent) ws.send(msg);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? null : rawText(data);
      const parsed = text === null ? null : parseRelayed(text);
      if (text === null || !parsed) {
        rejectedTotal.inc({ reason: 'bad_message' });
        log.warn({ event: 'inspector_bad_message', bytes: rawLength(data), binary: isBinary });
        return;
      }
      eventsTotal.inc({ origin: 'remote' });
      publish(scrub(text), parsed, ws);
    });
    ws.on('error', (err) => log.warn({ event: 'inspector_client_error', err: err.message }));
    ws.on('close', () => {
      clientsGauge.set(wss.clients.size);
      log.info({ event: 'inspector_client_disconnected', clients: wss.clients.size });
    });
  });

  function publish(msg: string, meta: Relayed, from: WebSocket | null): void {
    if (stopped) return;
    remember(msg, meta);
    for (const client of wss.clients) {
      if (client === from || client.readyState !== WebSocket.OPEN) continue;
      if (client.bufferedAmount > MAX_CLIENT_BUFFER) {
        rejectedTotal.inc({ reason: 'slow_client' });
        log.warn({ event: 'inspector_client_dropped', reason: 'slow_client', buffered: client.bufferedAmount });
        client.terminate();
        continue;
      }
      client.send(msg);
    }
  }

  function remember(msg: string, meta: Relayed): void {
    if (meta.type === '@xstate.actor') {
      actors.delete(meta.sessionId);
      actors.set(meta.sessionId, { actor: msg, parentId: meta.parentId, snapshot: null });
      if (actors.size > maxActors) forgetOneActor();
      return;
    }
    if (meta.type === '@xstate.snapshot') {
      const a = actors.get(meta.sessionId);
      if (a && a.parentId !== undefined && (meta.status === 'done' || meta.status === 'error' || meta.status === 'stopped')) {
        actors.delete(meta.sessionId);
      } else if (a) {
        a.snapshot = msg;
      }
    }
    recent.push(msg);
    if (recent.length > replayLimit) recent.splice(0, recent.length - replayLimit);
  }

  function forgetOneActor(): void {
    for (const [id, a] of actors) {
      if (a.parentId !== undefined) {
        actors.delete(id);
        return;
      }
    }
    const first = actors.keys().next();
    if (!first.done) actors.delete(first.value);
  }

  function scrub(text: string): string {
    if (secrets.length === 0) return text;
    // A secret may appear JSON-escaped inside the frame as well as verbatim.
    return scrubText(text, secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]));
  }

  const inspector = createInspector({
    send(event: StatelyInspectionEvent) {
      if (stopped) return;
      const meta = metaOf(event);
      if (!meta) return;
      eventsTotal.inc({ origin: 'local' });
      publish(scrub(safeJson(event)), meta, null);
    },
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    httpServer.once('error', onError);
    httpServer.listen(opts.port, HOST, () => {
      httpServer.off('error', onError);
      resolve();
    });
  });
  httpServer.on('error', (err) => log.error({ event: 'inspector_server_error', err: err.message }));

  const port = (httpServer.address() as AddressInfo).port;
  const url = `ws://${HOST}:${port}`;
  const openUrl = `http://${HOST}:${port}/`;
  log.info({
    event: 'inspector_started',
    url,
    open: openUrl,
    inspector: inspectorUrl,
    hint: `open ${openUrl} in a browser (it embeds ${inspectorUrl}); from another machine: ssh -N -L ${port}:${HOST}:${port} <this host>, then open ${openUrl} there`,
  });

  let stopping: Promise<void> | null = null;
  return {
    inspect: inspector.inspect,
    url,
    openUrl,
    port,
    clientCount: () => wss.clients.size,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        inspector.stop();
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        clientsGauge.set(0);
        actors.clear();
        recent.length = 0;
        log.info({ event: 'inspector_stopped', port });
      })();
      return stopping;
    },
  };
}

/** Browsers always send Origin on a WebSocket upgrade; other programs (Node clients) usually do not. */
function isLocalOrigin(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const { protocol, hostname } = new URL(origin);
    return (protocol === 'http:' || protocol === 'https:') && (hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]');
  } catch {
    return false;
  }
}

function metaOf(event: StatelyInspectionEvent): Relayed | null {
  if (typeof event.sessionId !== 'string') return null;
  if (event.type === '@xstate.actor') return { type: event.type, sessionId: event.sessionId, parentId: event.parentId };
  if (event.type === '@xstate.snapshot') return { type: event.type, sessionId: event.sessionId, status: statusOf(event.snapshot) };
  return { type: event.type, sessionId: event.sessionId };
}

function parseRelayed(text: string): Relayed | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !v.type.startsWith('@xstate.') || typeof v.sessionId !== 'string') return null;
  return {
    type: v.type,
    sessionId: v.sessionId,
    parentId: typeof v.parentId === 'string' ? v.parentId : undefined,
    status: statusOf(v.snapshot),
  };
}

function statusOf(snapshot: unknown): string | undefined {
  if (!snapshot || typeof snapshot !== 'object') return undefined;
  const status = (snapshot as { status?: unknown }).status;
  return typeof status === 'string' ? status : undefined;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/**
 * JSON of an inspection event whatever it carries: actor refs and snapshots (their toJSON),
 * cycles, BigInt, errors, Maps and Sets, functions (by name, as the package does), depth-limited.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(plain(value, 0, new Set<object>())) ?? 'null';
}

function plain(value: unknown, depth: number, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return value;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
      return { type: value.name || 'function' };
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_DEPTH) return '[…]';
  if (ancestors.has(value)) return '[Circular]';
  ancestors.add(value);
  try {
    if (value instanceof Error) return { name: value.name, message: value.message };
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Map) return [...value.entries()].map(([k, v]) => [plain(k, depth + 1, ancestors), plain(v, depth + 1, ancestors)]);
    if (value instanceof Set) return [...value].map((v) => plain(v, depth + 1, ancestors));
    if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1, ancestors) ?? null);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(value);
      return json === value ? plainObject(value, depth, ancestors) : plain(json, depth, ancestors);
    }
    return plainObject(value, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function plainObject(value: object, depth: number, ancestors: Set<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const p = plain(v, depth + 1, ancestors);
    if (p !== undefined) out[k] = p;
  }
  return out;
}

// The bridge: the Stately inspector in an iframe, fed from this relay. The WebSocket address is
// taken from the page's own, so a tunnel on another local port works too.
function bridgePage(inspectorUrl: string): string {
  const target = JSON.stringify(inspectorUrl);
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>livescan: Stately inspector</title>
<style>html,body{margin:0;height:100%}iframe{border:0;width:100%;height:100%}#s{position:fixed;right:8px;bottom:8px;font:12px sans-serif;background:#fffc;padding:2px 6px}</style>
</head>
<body>
<iframe id="inspector"></iframe>
<div id="s">connecting…</div>
<script>
(function () {
  var inspectorUrl = ${target};
  var iframe = document.getElementById('inspector');
  var status = document.getElementById('s');
  // Set by the inspector's hello: events go to that origin only (not '*'), whatever redirect
  // the inspector page went through.
  var inspectorOrigin = null;
  var pending = [];
  window.addEventListener('message', function (e) {
    if (e.source !== iframe.contentWindow) return;
    if (e.data && e.data.type === '@statelyai.connected') {
      inspectorOrigin = e.origin;
      pending.forEach(function (m) { iframe.contentWindow.postMessage(m, inspectorOrigin); });
      pending = [];
    }
  });
  iframe.src = inspectorUrl;
  var count = 0;
  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
    ws.onopen = function () { status.textContent = 'live'; };
    ws.onmessage = function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      count += 1;
      status.textContent = 'live, ' + count + ' events';
      if (inspectorOrigin) iframe.contentWindow.postMessage(data, inspectorOrigin);
      else pending.push(data);
    };
    ws.onclose = function () { status.textContent = 'disconnected: reload when livescan runs again'; };
  }
  connect();
})();
</script>
</body>
</html>
`;
}
