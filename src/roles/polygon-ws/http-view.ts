import type { Redis } from 'ioredis';
import { emptyReconcilerMetrics, type ReconcileResult } from '../../machines/reconciler.machine.js';
import { ForceRefused, type PolygonWsStatus, type PolygonWsView } from '../../services/http-api.js';
import type { SocketStats } from '../../services/polygon-socket.js';
import { redisHealth } from '../../services/redis-connection.js';
import { readConsumerLag } from '../../services/subscription-events.js';
import { withTimeout } from '../../shared/with-timeout.js';
import { burstOf, ratePerSecond } from '../../subscriptions/flow-control.js';
import { countOf, gapOf } from '../../subscriptions/subscription-book.js';
import type { FigureBook } from './figures.js';
import { connectionStateName, type Terms } from './terms.js';

// What the HTTP API and the status document see of the actor system: the current term's
// snapshots, the figure book, the socket's counts. Read-only but for FORCE.

/** How long POST /reconciler/force waits for the reconciliation it asked for. */
export const FORCE_TIMEOUT_MS = 15_000;

export function createPolygonWsView(deps: {
  terms: Terms;
  figures: FigureBook;
  socketStats: SocketStats;
  /** Asks the reconciler for a reconciliation now. */
  sendForce: () => void;
  /** Where the consumer group's lag is read. */
  redis: Redis;
}): PolygonWsView {
  const { terms, figures, socketStats: stats } = deps;
  const stateName = (): string => {
    const conn = terms.connection();
    // Not leading because Redis (and so the lease) is out of reach is not standing by: say so.
    return conn ? connectionStateName(conn) : redisHealth().reachable ? 'standby' : 'redis_unreachable';
  };
  return {
    status(): PolygonWsStatus {
      const r = terms.reconciler()?.getSnapshot().context;
      const f = figures.read();
      return {
        state: stateName(),
        acknowledged: r ? countOf(r.book.acked) : 0,
        desired: r?.book.desired ? countOf(r.book.desired) : null,
        gap: r ? gapOf(r.book) : null,
        inFlight: r ? Object.keys(r.book.inFlight).length : 0,
        pending: r ? Object.keys(r.book.pending).length : 0,
        reconciler: r?.metrics ?? emptyReconcilerMetrics,
        lastResult: r?.lastResult ?? null,
        reconnections: f.reconnections,
        reconnectionsLastHour: f.reconnectionsLastHour,
        closesByCode: f.closesByCode,
        closesByCause: f.closesByCause,
        lastClose: f.lastClose,
        maxConnectionsKicks: f.maxConnectionsKicks,
        coverage: f.coverage?.share ?? null,
        availability: f.availability,
        messagesIn: stats.messagesIn,
        messagesOut: stats.messagesOut,
        framesRejected: stats.framesRejected,
        lastError: f.lastError,
        flow: r
          ? { factor: r.flow.factor, burst: burstOf(r.settings.flow, r.flow), messagesPerSecond: ratePerSecond(r.settings.flow, r.flow), tokens: r.flow.tokens }
          : null,
      };
    },

    subscriptions: () => Object.keys(terms.reconciler()?.getSnapshot().context.book.acked ?? {}).sort(),

    force(): Promise<ReconcileResult> {
      const rec = terms.reconciler();
      if (!rec) return Promise.reject(new ForceRefused(`not leading (state: ${stateName()}): this instance holds no upstream connection to reconcile`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          sub.unsubscribe();
          reject(new Error(`reconciliation did not complete within ${FORCE_TIMEOUT_MS / 1000} s`));
        }, FORCE_TIMEOUT_MS);
        const sub = rec.on('reconciled', (e) => {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(e.result);
        });
        deps.sendForce();
      });
    },

    // Bounded: /stats must answer during a Redis outage, when it matters most.
    consumerLag: () => withTimeout(readConsumerLag(deps.redis), 1_000, 'consumer lag').catch(() => null),
  };
}
