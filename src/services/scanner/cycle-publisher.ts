import type { Redis } from 'ioredis';
import type { CyclePlan } from '../../scanner/cycle-plan.js';
import {
  ACTIVE_TICKERS_KEY,
  ACTIVE_TICKERS_TTL_S,
  CATEGORIES,
  RANKING_DELTAS_STREAM,
  SERVICE_STATUS_TTL_S,
  STREAM_DATA_FIELD,
  SUBSCRIPTIONS_STREAM,
  categoryKey,
  serviceStatusKey,
} from '../../shared/redis-keys.js';
import { SEQUENCES_KEY, queueSequences } from './sequence-store.js';

// The Redis writes of one scan, all in ONE MULTI/EXEC: every category key, the SET, the ranking
// messages, the subscription events, the sequences and the status. Redis runs a transaction with
// nothing interleaved, so a reader sees either the whole previous scan or the whole new one,
// never a list of scan N beside the SET of scan N-1.
//
// The SET is built under a temporary key and RENAMEd onto polygon_ws:active_tickers (then EXPIRE
// 3600, as the seeds ask): inside the transaction the key goes from the old members to the new
// ones in one step, never missing nor half written, unlike the seeds' DEL + SADD + EXPIRE.
// (Redis Cluster would need the two keys in one hash slot, i.e. a `{…}` tag in the contract's
// key name; livescan targets a single Redis, as the original system does.)
//
// Redis does not roll a transaction back when one command fails at run time (e.g. XADD on a key
// someone turned into a hash). The key types are therefore checked just before the MULTI, and
// a command error in the EXEC reply is still reported as a failed publish.

export const ACTIVE_TICKERS_TEMP_KEY = `${ACTIVE_TICKERS_KEY}:next`;

export interface CyclePublisherOptions {
  redis: Redis;
  /** Approximate bound of stream:ranking:deltas (MAXLEN ~). */
  rankingMaxLen?: number;
  /** Approximate bound of polygon_ws:subscriptions (MAXLEN ~); the SET wins over lost events anyway. */
  subscriptionsMaxLen?: number;
  /** TTL of the status key; at least SERVICE_STATUS_TTL_S. */
  statusTtlS?: number;
  /** Fields added to every status JSON (e.g. interval, source). */
  statusFields?: Record<string, unknown>;
}

export const PUBLISHER_DEFAULTS = { rankingMaxLen: 10_000, subscriptionsMaxLen: 100_000 } as const;

export class CyclePublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CyclePublishError';
  }
}

export interface PublishInfo {
  /** Completed scans so far, this one included. */
  cycle: number;
  /** From the start of the fetch to now. */
  durationMs: number;
}

export interface CyclePublisher {
  publish(plan: CyclePlan, info: PublishInfo): Promise<void>;
  /** Best effort: tell operators the scanner is failing (outside any scan's transaction). */
  publishFailure(failure: { stage: string; message: string; attempt: number; retryInMs: number }): Promise<void>;
}

const EXPECTED_TYPES: ReadonlyArray<readonly [string, string]> = [
  [RANKING_DELTAS_STREAM, 'stream'],
  [SUBSCRIPTIONS_STREAM, 'stream'],
  [SEQUENCES_KEY, 'hash'],
];

export function createCyclePublisher(opts: CyclePublisherOptions): CyclePublisher {
  const { redis } = opts;
  const rankingMaxLen = String(opts.rankingMaxLen ?? PUBLISHER_DEFAULTS.rankingMaxLen);
  const subscriptionsMaxLen = String(opts.subscriptionsMaxLen ?? PUBLISHER_DEFAULTS.subscriptionsMaxLen);
  const statusTtl = Math.max(SERVICE_STATUS_TTL_S, Math.ceil(opts.statusTtlS ?? SERVICE_STATUS_TTL_S));
  const statusFields = opts.statusFields ?? {};

  async function checkTypes(): Promise<void> {
    const check = redis.pipeline();
    for (const [key] of EXPECTED_TYPES) check.type(key);
    const replies = (await check.exec()) ?? [];
    EXPECTED_TYPES.forEach(([key, want], i) => {
      const [err, got] = replies[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      if (got !== 'none' && got !== want) {
        throw new CyclePublishError(`key ${key} holds a ${String(got)}, expected a ${want}: nothing was written`);
      }
    });
  }

  return {
    async publish(plan, info) {
      await checkTypes();
      const tx = redis.multi();
      for (const c of CATEGORIES) tx.set(categoryKey(c), JSON.stringify(plan.lists[c]));

      tx.del(ACTIVE_TICKERS_TEMP_KEY);
      if (plan.active.length > 0) {
        tx.sadd(ACTIVE_TICKERS_TEMP_KEY, ...plan.active);
        tx.rename(ACTIVE_TICKERS_TEMP_KEY, ACTIVE_TICKERS_KEY);
        tx.expire(ACTIVE_TICKERS_KEY, ACTIVE_TICKERS_TTL_S);
      } else {
        // Redis has no empty set: "nothing is relevant" is a missing key.
        tx.del(ACTIVE_TICKERS_KEY);
      }

      queueSequences(tx, plan.sequences);
      for (const msg of plan.messages) {
        tx.xadd(RANKING_DELTAS_STREAM, 'MAXLEN', '~', rankingMaxLen, '*', STREAM_DATA_FIELD, JSON.stringify(msg));
      }
      for (const e of plan.events) {
        tx.xadd(
          SUBSCRIPTIONS_STREAM, 'MAXLEN', '~', subscriptionsMaxLen, '*',
          'symbol', e.symbol, 'action', e.action, 'source', e.source, 'session', e.session, 'timestamp', e.timestamp,
        );
      }
      const status = {
        ...statusFields,
        role: 'scanner',
        state: 'running',
        source: plan.source,
        session: plan.session,
        cycle: info.cycle,
        last_scan_at: new Date(plan.takenAtMs).toISOString(),
        duration_ms: Math.round(info.durationMs),
        tickers: plan.stats.tickers,
        rejected_tickers: plan.stats.rejected,
        active_tickers: plan.active.length,
        lists: plan.stats.rows,
        sequences: plan.sequences,
      };
      tx.set(serviceStatusKey('scanner'), JSON.stringify(status), 'EX', statusTtl);

      const replies = await tx.exec();
      if (!replies) throw new CyclePublishError('transaction aborted');
      const failed = replies.filter(([err]) => err);
      if (failed.length > 0) {
        const first = failed[0]?.[0];
        throw new CyclePublishError(`${failed.length} command(s) of the scan's transaction failed: ${first?.message ?? 'unknown'}`);
      }
    },

    async publishFailure(f) {
      const status = {
        ...statusFields,
        role: 'scanner',
        state: 'failing',
        failed_stage: f.stage,
        error: f.message.slice(0, 300),
        attempt: f.attempt,
        retry_in_ms: f.retryInMs,
        at: new Date().toISOString(),
      };
      await redis.set(serviceStatusKey('scanner'), JSON.stringify(status), 'EX', statusTtl);
    },
  };
}
