import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { ReconcileResult, ReconcilerMetrics } from '../machines/reconciler.machine.js';
import type { Logger } from '../shared/logger.js';
import { isLoopback } from '../shared/loopback.js';
import { registry } from '../shared/metrics.js';

// polygon-ws's HTTP API (contract: GET /subscriptions, GET /reconciler/metrics,
// POST /reconciler/force, GET /stats; plus /health and /metrics). It reads a view of the actor
// system and never changes it except through the reconciler's FORCE event.

export interface PolygonWsStatus {
  state: string;
  acknowledged: string[];
  desired: number | null;
  gap: number | null;
  inFlight: number;
  pending: number;
  reconciler: ReconcilerMetrics;
  lastResult: ReconcileResult | null;
  reconnections: number;
  reconnectionsLastHour: number;
  closesByCode: Record<string, number>;
  maxConnectionsKicks: number;
  messagesIn: number;
  messagesOut: number;
  framesRejected: number;
  lastError: string | null;
  paceMultiplier: number;
}

export interface PolygonWsView {
  status(): PolygonWsStatus;
  force(): Promise<ReconcileResult>;
  consumerLag(): Promise<number | null>;
}

export interface HttpApiOptions {
  view: PolygonWsView;
  log: Logger;
  host: string;
  port: number;
  adminToken: string;
}

function tokenMatches(req: FastifyRequest, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function buildHttpApi(opts: HttpApiOptions): FastifyInstance {
  const { view, log } = opts;
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  app.get('/subscriptions', async () => {
    const tickers = [...view.status().acknowledged].sort();
    return { count: tickers.length, tickers };
  });

  app.get('/reconciler/metrics', async () => {
    const s = view.status();
    return { ...s.reconciler, gap: s.gap, desired: s.desired, acknowledged: s.acknowledged.length, last_result: s.lastResult };
  });

  app.post('/reconciler/force', async (req, reply) => {
    // Mutating: a token when one is configured, else only from this machine.
    const allowed = opts.adminToken ? tokenMatches(req, opts.adminToken) : isLoopback(req.ip);
    if (!allowed) {
      log.warn({ event: 'http_forbidden', path: '/reconciler/force', ip: req.ip });
      return reply.code(opts.adminToken ? 401 : 403).send({ error: opts.adminToken ? 'missing or wrong bearer token' : 'allowed from loopback only' });
    }
    const result = await view.force();
    log.info({ event: 'reconciliation_forced', status: result.status, drift: result.drift });
    return result;
  });

  app.get('/stats', async () => {
    const s = view.status();
    return {
      state: s.state,
      subscribed: s.acknowledged.length,
      desired: s.desired,
      gap: s.gap,
      in_flight: s.inFlight,
      pending: s.pending,
      reconnections: s.reconnections,
      reconnections_last_hour: s.reconnectionsLastHour,
      reconnections_by_code: s.closesByCode,
      close_1008_count: s.closesByCode['1008'] ?? 0,
      max_connections_kicks: s.maxConnectionsKicks,
      messages_in: s.messagesIn,
      messages_out: s.messagesOut,
      frames_rejected: s.framesRejected,
      pace_multiplier: s.paceMultiplier,
      consumer_lag: await view.consumerLag(),
      last_error: s.lastError,
    };
  });

  app.get('/health', async (_req, reply) => {
    const s = view.status();
    const ready = s.state === 'live' && s.gap === 0;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', state: s.state, gap: s.gap });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  return app;
}

export async function startHttpApi(opts: HttpApiOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = buildHttpApi(opts);
  const address = await app.listen({ host: opts.host, port: opts.port });
  return { app, url: address };
}
