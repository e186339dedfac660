import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { InspectionEvent, Observer } from 'xstate';
import { scrubText, type Logger } from '../shared/logger.js';
import { counter, gauge } from '../shared/metrics.js';
import { findBridgePage, loadBridgePage } from './inspector/bridge-page.js';
import { metaOf, parseRelayed, safeJson } from './inspector/inspection-json.js';
import { ReplayCache, type RelayedMeta } from './inspector/replay-cache.js';

export { safeJson } from './inspector/inspection-json.js';

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
//
// This file is the relay (HTTP and WebSocket on 127.0.0.1). Its parts: inspector/bridge.html, the
// page (a static file), inspector/replay-cache.ts, what a late browser is sent, and
// inspector/inspection-json.ts, events to text and back.

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
  /** How long the bridge page waits for the Stately inspector's hello before it says it cannot be reached. */
  connectTimeoutMs?: number;
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
/** The Stately inspector is a large web app: a slow link may take a while to load it. */
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** A browser that cannot keep up is dropped rather than buffered without bound. */
const MAX_CLIENT_BUFFER = 32 * 1024 * 1024;

const clientsGauge = gauge('livescan_inspector_clients', 'WebSocket clients connected to the inspector relay.');
const eventsTotal = counter('livescan_inspector_events_total', 'Inspection events relayed, by origin.', ['origin']);
const rejectedTotal = counter('livescan_inspector_rejected_total', 'Inspector connections or messages refused, by reason.', ['reason']);

interface Relay {
  wss: WebSocketServer;
  /** To every browser but `from`; remembered for late ones. */
  publish(msg: string, meta: RelayedMeta, from: WebSocket | null): void;
}

/** The WebSocket side: replays to each newcomer, relays what one client publishes to the others. */
function createRelay(log: Logger, cache: ReplayCache, scrub: (text: string) => string, isStopped: () => boolean): Relay {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });

  function publish(msg: string, meta: RelayedMeta, from: WebSocket | null): void {
    if (isStopped()) return;
    cache.remember(msg, meta);
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

  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    clientsGauge.set(wss.clients.size);
    log.info({ event: 'inspector_client_connected', clients: wss.clients.size, origin: req.headers.origin ?? null });
    for (const msg of cache.replay()) ws.send(msg);
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

  return { wss, publish };
}

/** The HTTP side: the bridge page at `/`, and the WebSocket upgrade for local origins only. */
function createHttpServer(log: Logger, relay: Relay, page: string | null, isStopped: () => boolean): http.Server {
  const httpServer = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      if (page === null) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('the inspector bridge page (src/services/inspector/bridge.html) was not found: see the inspector_bridge_missing log line\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  httpServer.on('upgrade', (req, socket, head) => {
    const origin = req.headers.origin;
    const stopped = isStopped();
    if (stopped || !isLocalOrigin(origin)) {
      rejectedTotal.inc({ reason: stopped ? 'stopping' : 'origin' });
      log.warn({ event: 'inspector_client_rejected', origin: origin ?? null, reason: stopped ? 'stopping' : 'origin' });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    relay.wss.handleUpgrade(req, socket, head, (ws) => relay.wss.emit('connection', ws, req));
  });
  return httpServer;
}

export async function startInspector(opts: InspectorOptions): Promise<RunningInspector> {
  const { log } = opts;
  // A secret may appear JSON-escaped inside the frame as well as verbatim: both forms, made once, not per event.
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  const inspectorUrl = opts.inspectorUrl ?? DEFAULT_INSPECTOR_UI;
  const cache = new ReplayCache({ replayEvents: opts.replayEvents ?? 1000, maxActors: opts.maxActors ?? 1000 });
  const scrub = (text: string): string => (secrets.length === 0 ? text : scrubText(text, secrets));
  let stopped = false;

  const pageFile = findBridgePage();
  if (!pageFile) log.error({ event: 'inspector_bridge_missing', looked_for: 'src/services/inspector/bridge.html', hint: 'run from a checkout of livescan: the page is a file of src/' });
  const page = loadBridgePage(pageFile, { inspectorUrl, connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
  const relay = createRelay(log, cache, scrub, () => stopped);
  const httpServer = createHttpServer(log, relay, page, () => stopped);

  const inspector = createInspector({
    send(event: StatelyInspectionEvent) {
      if (stopped) return;
      const meta = metaOf(event);
      if (!meta) return;
      eventsTotal.inc({ origin: 'local' });
      relay.publish(scrub(safeJson(event)), meta, null);
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
    clientCount: () => relay.wss.clients.size,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        inspector.stop();
        for (const client of relay.wss.clients) client.terminate();
        await new Promise<void>((resolve) => relay.wss.close(() => resolve()));
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        clientsGauge.set(0);
        cache.clear();
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

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
