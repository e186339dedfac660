import type { Logger } from '../../../src/shared/logger.js';
import { ClientHub } from '../../../src/ws-server/client-hub.js';
import { resolveLimits, type WsLimits } from '../../../src/ws-server/limits.js';
import { ListStore } from '../../../src/ws-server/list-store.js';
import { startWsHttpServer, type WsHttpServer } from '../../../src/ws-server/server.js';
import { captureLog } from './log.js';

/** The ws-server's HTTP/WebSocket front with a hub and a store, no Redis: driven directly. */
export async function startHubServer(opts: { limits?: Partial<WsLimits>; allowedOrigins?: string[]; log?: Logger } = {}): Promise<{
  store: ListStore;
  hub: ClientHub;
  server: WsHttpServer;
  wsUrl: string;
  lines: Record<string, unknown>[];
}> {
  const captured = captureLog();
  const log = opts.log ?? captured.log;
  const store = new ListStore();
  const limits = resolveLimits(opts.limits);
  const hub = new ClientHub({ store, limits, log });
  const server = await startWsHttpServer({
    host: '127.0.0.1',
    port: 0,
    hub,
    limits,
    allowedOrigins: opts.allowedOrigins ?? [],
    log,
    health: () => ({ ok: true, body: { status: 'ok', clients: hub.size } }),
    status: async () => ({ services: {} }),
  });
  return { store, hub, server, wsUrl: `ws://127.0.0.1:${server.port}/ws`, lines: captured.lines };
}
