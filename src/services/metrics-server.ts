import Fastify from 'fastify';
import type { Logger } from '../shared/logger.js';
import { registry } from '../shared/metrics.js';
import { trackRouteMethods } from './route-methods.js';

// /metrics (Prometheus text) and /health for a process that has no other HTTP server.

export async function startMetricsServer(opts: {
  host: string;
  port: number;
  log: Logger;
  /** What /health answers: 200 when ok, 503 otherwise, with `detail` as the body. */
  health: () => { ok: boolean; detail: Record<string, unknown> };
}): Promise<{ url: string; stop(): Promise<void> }> {
  const app = Fastify({ logger: false });
  const routes = trackRouteMethods(app);
  app.setNotFoundHandler((req, reply) => {
    const allow = routes.allowOf(req.url);
    if (allow !== null) reply.header('allow', allow);
    return reply
      .code(allow === null ? 404 : 405)
      .type('application/json; charset=utf-8')
      .send({ error: allow === null ? 'not found' : 'method not allowed' });
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/health', async (_req, reply) => {
    const h = opts.health();
    return reply.code(h.ok ? 200 : 503).send({ status: h.ok ? 'ok' : 'failing', ...h.detail });
  });
  const url = await app.listen({ host: opts.host, port: opts.port });
  opts.log.info({ event: 'metrics_http_listening', url });
  return { url, stop: () => app.close() };
}
