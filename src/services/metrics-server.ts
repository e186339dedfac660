import Fastify from 'fastify';
import type { Logger } from '../shared/logger.js';
import { registry } from '../shared/metrics.js';

// /metrics (Prometheus text) and /health for a process that has no other HTTP server.

export async function startMetricsServer(opts: { host: string; port: number; log: Logger }): Promise<{ url: string; stop(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/health', async () => ({ status: 'ok' }));
  const url = await app.listen({ host: opts.host, port: opts.port });
  opts.log.info({ event: 'metrics_http_listening', url });
  return { url, stop: () => app.close() };
}
