import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../shared/logger.js';
import { registry } from '../shared/metrics.js';
import { HubSocket, type ClientHub } from './client-hub.js';
import { findDashboardDir, loadDashboard } from './dashboard-assets.js';
import type { WsLimits } from './limits.js';

// The ws-server's single port: the browser WebSocket at /ws, the dashboard at /, and /health,
// /metrics, /status for operators. Redis is not touched here: what the routes report comes from
// the callbacks the role passes in.

export const WS_PATH = '/ws';
/** The paths this port answers besides the dashboard's files. */
const API_PATHS = ['/health', '/metrics', '/status', WS_PATH] as const;
const ALLOWED_METHODS = 'GET, HEAD';

export interface WsHttpServerOptions {
  host: string;
  port: number;
  hub: ClientHub;
  limits: WsLimits;
  /** Origins allowed to open /ws besides the page's own; empty: any. */
  allowedOrigins: readonly string[];
  log: Logger;
  health(): { ok: boolean; body: Record<string, unknown> };
  status(): Promise<unknown>;
  /** Where index.html, app.js and style.css are; found from this module when omitted. */
  dashboardDir?: string;
}

export interface WsHttpServer {
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** WS_ALLOWED_ORIGINS: comma-separated origins, e.g. `https://app.example.com,http://localhost:3000`. */
export function parseAllowedOrigins(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter((s) => s.length > 0);
}

/**
 * An empty list allows any origin. A request without Origin (not a browser) is allowed: the check
 * protects browsers' users from other sites, and any other client can forge the header anyway.
 * The dashboard's own origin (same host as the request) is always allowed.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const PAGE_HEADERS = {
  ...SECURITY_HEADERS,
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
};

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export async function startWsHttpServer(opts: WsHttpServerOptions): Promise<WsHttpServer> {
  const { hub, log, limits } = opts;
  const dir = opts.dashboardDir ?? findDashboardDir();
  const assets = loadDashboard(dir);
  if (!assets.has('/')) log.error({ event: 'dashboard_missing', dir, detail: 'src/ws-server/dashboard/index.html not found' });

  const wss = new WebSocketServer<typeof HubSocket>({
    noServer: true,
    WebSocket: HubSocket,
    maxPayload: limits.maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const known = assets.has(pathname) || (API_PATHS as readonly string[]).includes(pathname);
    if (!known) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    // Every route of this port only reads: a known path asked with another method says which it takes.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: ALLOWED_METHODS, 'content-type': 'text/plain' });
      res.end('method not allowed');
      return;
    }
    const asset = assets.get(pathname);
    if (asset) {
      res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length });
      res.end(asset.body);
      return;
    }
    switch (pathname) {
      case '/health': {
        const h = opts.health();
        sendJson(res, h.ok ? 200 : 503, h.body);
        return;
      }
      case '/metrics': {
        const text = await registry.metrics();
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': registry.contentType });
        res.end(text);
        return;
      }
      case '/status':
        sendJson(res, 200, await opts.status());
        return;
      default:
        // WS_PATH without an upgrade (the other known paths are answered above).
        res.writeHead(426, { ...SECURITY_HEADERS, 'content-type': 'text/plain', upgrade: 'websocket' });
        res.end('WebSocket upgrade required');
    }
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      log.error({ event: 'http_route_failed', path: req.url, err });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  server.on('upgrade', (req, socket, head) => {
    // Until ws owns the socket nobody else listens for its errors.
    socket.on('error', () => socket.destroy());
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== WS_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    const origin = req.headers.origin;
    if (!originAllowed(origin, req.headers.host, opts.allowedOrigins)) {
      hub.recordRefusal('origin_refused', remote, origin);
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    if (hub.size >= limits.maxClients) {
      hub.recordRefusal('capacity', remote);
      return refuseUpgrade(socket, 503, 'Service Unavailable');
    }
    wss.handleUpgrade(req, socket, head, (ws) => hub.attach(ws, remote, socket));
  });

  wss.on('wsClientError', (err, socket) => {
    log.debug({ event: 'ws_handshake_refused', error: err.message });
    refuseUpgrade(socket, 400, 'Bad Request');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ event: 'http_server_error', err }));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  hub.startHeartbeat();
  log.info({ event: 'ws_server_listening', host: opts.host, port, ws_path: WS_PATH, dashboard: assets.has('/') });

  return {
    port,
    url: `http://${hostForUrl}:${port}`,
    async close() {
      await hub.close();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
