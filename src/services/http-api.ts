import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { CloseCause } from '../machines/connection.machine.js';
import type { ReconcileResult, ReconcilerMetrics } from '../machines/reconciler.machine.js';
import type { AvailabilityFigures } from '../subscriptions/coverage.js';
import { KeyedThrottle } from '../shared/keyed-throttle.js';
import type { Logger } from '../shared/logger.js';
import { isLoopback } from '../shared/loopback.js';
import { counter, registry } from '../shared/metrics.js';
import { DEFAULT_HTTP_RATE, KeyedRateLimiter, type TokenRate } from '../shared/rate-limiter.js';
import { trackRouteMethods } from './route-methods.js';

// polygon-ws's HTTP API (contract: GET /subscriptions, GET /reconciler/metrics,
// POST /reconciler/force, GET /stats; plus /health and /metrics). It reads a view of the actor
// system and never changes it except through the reconciler's FORCE event.

export interface LastCloseFigures {
  at: string;
  cause: CloseCause;
  code: number;
  reason: string;
  /** From auth_success to the close; null when it never authenticated. */
  lifetime_seconds: number | null;
}

export interface PolygonWsStatus {
  state: string;
  /** How many subscriptions the upstream has acknowledged. */
  acknowledged: number;
  desired: number | null;
  gap: number | null;
  inFlight: number;
  pending: number;
  reconciler: ReconcilerMetrics;
  lastResult: ReconcileResult | null;
  reconnections: number;
  reconnectionsLastHour: number;
  closesByCode: Record<string, number>;
  closesByCause: Record<CloseCause, number>;
  lastClose: LastCloseFigures | null;
  maxConnectionsKicks: number;
  /** Share of the SET acknowledged now; null while standing by. */
  coverage: number | null;
  availability: AvailabilityFigures;
  messagesIn: number;
  messagesOut: number;
  framesRejected: number;
  lastError: string | null;
  /** Flow control of the subscribe messages; null while standing by. */
  flow: { factor: number; burst: number; messagesPerSecond: number; tokens: number } | null;
}

/** A forced reconciliation this instance cannot run (a standby): answered 409 with the message. */
export class ForceRefused extends Error {
  override name = 'ForceRefused';
}

export interface PolygonWsView {
  /** Cheap: counts and figures, for /health, /stats and the status document every few seconds. */
  status(): PolygonWsStatus;
  /** The acknowledged tickers themselves, sorted (only GET /subscriptions lists them). */
  subscriptions(): string[];
  /** Rejects with ForceRefused when this instance cannot reconcile at all. */
  force(): Promise<ReconcileResult>;
  consumerLag(): Promise<number | null>;
}

export interface HttpApiOptions {
  view: PolygonWsView;
  log: Logger;
  host: string;
  port: number;
  adminToken: string;
  /**
   * Requests per client address: `burst` at once, then `perSecond` (default 20/s, burst 40).
   * Loopback callers are not limited: they are this machine (its health checks, scrapers,
   * operators and tests), trusted as far as POST /reconciler/force without a token is.
   */
  rateLimit?: TokenRate;
  /** The rate limiter's and the log throttle's clock (tests). */
  now?: () => number;
}

function round(x: number | null, digits: number): number | null {
  return x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;
}

/** Largest request body accepted; a bigger one is answered 413 before it is read. */
export const HTTP_BODY_LIMIT = 16 * 1024;

export type HttpRejectReason =
  | 'rate_limit'
  | 'body_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_connected'
  | 'unsupported_media_type'
  | 'bad_request';

const rejectedRequests = counter<'reason'>(
  'livescan_http_rejected_total',
  'HTTP API requests refused, by reason (rate_limit, body_too_large, unauthorized, forbidden, not_found, method_not_allowed, not_connected, unsupported_media_type, bad_request)',
  ['reason'],
);

/**
 * Answers to refused requests are fixed texts: fastify's own messages repeat the client's path,
 * content type or body, and an answer must never carry back what it was sent.
 */
const REJECTION_TEXT: Record<HttpRejectReason, string> = {
  rate_limit: 'too many requests',
  body_too_large: `request body larger than ${HTTP_BODY_LIMIT} bytes`,
  unauthorized: 'missing or wrong bearer token',
  forbidden: 'allowed from loopback only',
  not_found: 'not found',
  method_not_allowed: 'method not allowed',
  not_connected: 'not connected to the upstream: nothing to reconcile against',
  unsupported_media_type: 'unsupported content type',
  bad_request: 'bad request',
};

function reasonOfStatus(status: number): HttpRejectReason {
  if (status === 413) return 'body_too_large';
  if (status === 415) return 'unsupported_media_type';
  if (status === 404) return 'not_found';
  if (status === 405) return 'method_not_allowed';
  if (status === 429) return 'rate_limit';
  return 'bad_request';
}

/** The path without the query string, cut short: the URL is the client's to choose. */
function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  return path.length > 100 ? `${path.slice(0, 100)}…` : path;
}

function tokenMatches(req: FastifyRequest, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function buildHttpApi(opts: HttpApiOptions): FastifyInstance {
  const { log } = opts;
  const rate = opts.rateLimit ?? DEFAULT_HTTP_RATE;
  const now = opts.now ?? Date.now;
  const limiter = new KeyedRateLimiter({ ...rate, now });
  // One line per client address and reason per minute, however hard it pushes.
  const logThrottle = new KeyedThrottle({ periodMs: 60_000, now });
  const retryAfter = String(Math.max(1, Math.ceil(1 / rate.perSecond)));
  const overRate = (req: FastifyRequest): boolean => !isLoopback(req.ip) && !limiter.take(req.ip);

  const reject: Reject = (req, reply, status, reason, text) => {
    rejectedRequests.inc({ reason });
    const pass = logThrottle.pass(`${reason} ${req.ip}`);
    if (pass) {
      const event = reason === 'rate_limit' ? 'http_rate_limited' : reason === 'unauthorized' || reason === 'forbidden' ? 'http_forbidden' : 'http_request_rejected';
      log.warn({ event, reason, status, ip: req.ip, method: req.method, path: pathOf(req), suppressed: pass.suppressed });
    }
    if (reason === 'rate_limit') reply.header('retry-after', retryAfter);
    return reply.code(status).type('application/json; charset=utf-8').send({ error: text ?? REJECTION_TEXT[reason] });
  };

  const app = Fastify({
    logger: false,
    bodyLimit: HTTP_BODY_LIMIT,
    // Time allowed to send a whole request (a client trickling one in holds a socket open).
    requestTimeout: 10_000,
    // A URL the router cannot decode never reaches the hooks: counted against the rate here, and
    // answered without fastify's message, which quotes the URL back.
    frameworkErrors: (_err, req, reply) => {
      if (overRate(req)) return reject(req, reply, 429, 'rate_limit');
      return reject(req, reply, 400, 'bad_request');
    },
  });

  // Before the body is read: a client over its rate costs no parsing.
  app.addHook('onRequest', async (req, reply) => {
    if (overRate(req)) return reject(req, reply, 429, 'rate_limit');
  });

  const routes = trackRouteMethods(app);
  app.setNotFoundHandler((req, reply) => {
    const allow = routes.allowOf(req.url);
    if (allow === null) return reject(req, reply, 404, 'not_found');
    reply.header('allow', allow);
    return reject(req, reply, 405, 'method_not_allowed');
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return reject(req, reply, status, reasonOfStatus(status));
    const pass = logThrottle.pass(`internal ${req.ip}`);
    if (pass) log.error({ event: 'http_handler_failed', method: req.method, path: pathOf(req), error: err.message, suppressed: pass.suppressed });
    return reply.code(500).type('application/json; charset=utf-8').send({ error: 'internal error' });
  });

  addRoutes(app, opts, reject);
  return app;
}

/** `text`, when given, replaces the reason's fixed text: never anything the client sent. */
type Reject = (req: FastifyRequest, reply: FastifyReply, status: number, reason: HttpRejectReason, text?: string) => FastifyReply;

/** The contract's endpoints, plus /health and /metrics. */
function addRoutes(app: FastifyInstance, opts: HttpApiOptions, reject: Reject): void {
  const { view, log } = opts;
  app.get('/subscriptions', async () => {
    const tickers = view.subscriptions();
    return { count: tickers.length, tickers };
  });

  app.get('/reconciler/metrics', async () => {
    const s = view.status();
    return { ...s.reconciler, gap: s.gap, desired: s.desired, acknowledged: s.acknowledged, last_result: s.lastResult };
  });

  app.post('/reconciler/force', async (req, reply) => {
    // Mutating: a token when one is configured, else only from this machine.
    const allowed = opts.adminToken ? tokenMatches(req, opts.adminToken) : isLoopback(req.ip);
    if (!allowed) return opts.adminToken ? reject(req, reply, 401, 'unauthorized') : reject(req, reply, 403, 'forbidden');
    let result: ReconcileResult;
    try {
      result = await view.force();
    } catch (err) {
      if (err instanceof ForceRefused) return reject(req, reply, 409, 'not_connected', err.message);
      log.warn({ event: 'reconciliation_force_failed', error: err instanceof Error ? err.message : String(err) });
      return reply.code(503).send({ error: 'reconciliation did not complete' });
    }
    log.info({ event: 'reconciliation_forced', status: result.status, drift: result.drift, connected: result.connected });
    // Run without an upstream connection, a reconciliation checks nothing: "ok, drift 0" would mislead.
    if (!result.connected) {
      return reject(req, reply, 409, 'not_connected', `not connected to the upstream (state: ${view.status().state}): nothing to reconcile against`);
    }
    return result;
  });

  app.get('/stats', async () => {
    const s = view.status();
    return {
      state: s.state,
      subscribed: s.acknowledged,
      desired: s.desired,
      gap: s.gap,
      in_flight: s.inFlight,
      pending: s.pending,
      reconnections: s.reconnections,
      reconnections_last_hour: s.reconnectionsLastHour,
      reconnections_by_code: s.closesByCode,
      closes_by_cause: s.closesByCause,
      last_close: s.lastClose,
      close_1008_count: s.closesByCode['1008'] ?? 0,
      max_connections_kicks: s.maxConnectionsKicks,
      coverage: round(s.coverage, 4),
      availability: round(s.availability.availability, 4),
      mean_coverage: round(s.availability.meanShare, 4),
      measured_seconds: round(s.availability.measuredSeconds, 3),
      longest_dark_seconds: round(s.availability.longestDarkSeconds, 3),
      dark_for_seconds: round(s.availability.darkForSeconds, 3),
      messages_in: s.messagesIn,
      messages_out: s.messagesOut,
      frames_rejected: s.framesRejected,
      flow: s.flow
        ? { rate_factor: s.flow.factor, burst: s.flow.burst, messages_per_second: s.flow.messagesPerSecond, tokens: s.flow.tokens }
        : null,
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

}

export async function startHttpApi(opts: HttpApiOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = buildHttpApi(opts);
  const address = await app.listen({ host: opts.host, port: opts.port });
  return { app, url: address };
}
