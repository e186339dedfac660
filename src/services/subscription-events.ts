import type { Redis } from 'ioredis';
import { fromCallback } from 'xstate';
import type { ReconcilerEvent } from '../machines/reconciler.machine.js';
import { RECONCILER_ID, peer } from '../machines/protocol.js';
import type { Logger } from '../shared/logger.js';
import { counter, gauge, histogram } from '../shared/metrics.js';
import { SUBSCRIPTIONS_GROUP, SUBSCRIPTIONS_STREAM } from '../shared/redis-keys.js';
import { isValidSymbol } from '../upstream/codec.js';
import { backoffCeiling } from '../machines/backoff.js';
import { LogThrottle } from '../shared/log-throttle.js';
import type { ActiveSet } from './active-set.js';

// The event fast path: the scanner's subscribe/unsubscribe entries of `polygon_ws:subscriptions`,
// read with the consumer group. Each entry is a hint, not a command: the symbols are checked
// against the SET (one transaction per batch) and the reconciler is told what the SET says now.
// An unsubscribe for a symbol back in the SET therefore changes nothing (the seeds' TSLA race).
// Entries are acknowledged once the reconciler has the verdict; a crash before that leaves them
// pending, and they are read again (own pending first, then XAUTOCLAIM of dead consumers' ones).

export interface SubscriptionEventsDeps {
  /** A new connection for each run of the reader (XREADGROUP BLOCK holds it; stopping closes it). */
  connect: () => Redis;
  /** Acknowledges handled entries; polygon-ws fences it with its leader lease. */
  ack?: (redis: Redis, ids: string[]) => Promise<void>;
  activeSet: ActiveSet;
  consumer: string;
  log: Logger;
  blockMs?: number;
  batchSize?: number;
  /** Entries idle this long in another consumer's pending list are taken over. */
  claimIdleMs?: number;
}

export interface ParsedEntry {
  id: string;
  symbol: string;
  action: 'subscribe' | 'unsubscribe';
}

const rejected = counter('livescan_subscription_events_rejected_total', 'Stream entries that were malformed', ['reason']);
const handled = counter('livescan_subscription_events_total', 'Stream entries handled', ['action']);
const readErrors = counter('livescan_subscription_events_read_errors_total', 'Failed reads of the subscriptions stream');
const hintLatency = histogram(
  'livescan_subscription_event_latency_seconds',
  'From the entry being written (its stream id) to the reconciler having the verified hint',
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);
const consumerLag = gauge('livescan_consumer_group_lag', 'Entries of polygon_ws:subscriptions not yet delivered to the group');

type RawEntry = [id: string, fields: string[]];

/** Validate one stream entry at the edge. */
export function parseEntry(id: string, fields: readonly string[]): ParsedEntry | { id: string; reason: string } {
  const rec: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) rec[fields[i] as string] = fields[i + 1] as string;
  // Kept as written, surrounding whitespace aside: symbols are case-sensitive upstream (`AMpB`
  // is not `AMPB`), so one is never upper-cased. Printable ASCII only (isValidSymbol says so
  // too; the check keeps the edge explicit).
  const symbol = rec.symbol?.trim();
  if (!symbol) return { id, reason: 'missing_symbol' };
  if (!/^[\x21-\x7e]+$/.test(symbol)) return { id, reason: 'invalid_symbol' };
  if (!isValidSymbol(symbol)) return { id, reason: 'invalid_symbol' };
  const action = rec.action?.trim().toLowerCase();
  if (action === undefined) return { id, reason: 'missing_action' };
  if (action !== 'subscribe' && action !== 'unsubscribe') return { id, reason: 'unknown_action' };
  return { id, symbol, action };
}

/**
 * The group's lag: entries not yet delivered to it, counted from its last-delivered id (up to
 * 1,000), also exported as a gauge; null if the group is unknown. Redis's own `lag` field is not
 * used: once entries are deleted before the group reads them, it stays positive for good.
 */
export async function readConsumerLag(redis: Redis): Promise<number | null> {
  const groups = (await redis.call('XINFO', 'GROUPS', SUBSCRIPTIONS_STREAM)) as unknown[][];
  for (const g of groups) {
    const rec: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) rec[String(g[i])] = g[i + 1];
    if (rec.name !== SUBSCRIPTIONS_GROUP) continue;
    const last = typeof rec['last-delivered-id'] === 'string' ? rec['last-delivered-id'] : '0-0';
    const undelivered = await redis.xrange(SUBSCRIPTIONS_STREAM, `(${last}`, '+', 'COUNT', 1000);
    consumerLag.set(undelivered.length);
    return undelivered.length;
  }
  return null;
}

export async function ensureGroup(redis: Redis): Promise<void> {
  try {
    // `$`: history before the group existed is irrelevant, the SET is read on every connect.
    await redis.xgroup('CREATE', SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, '$', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
  }
}

export interface SubscriptionEventsService {
  /** The actor logic to provide as `subscriptionEvents`. */
  logic: ReturnType<typeof fromCallback>;
  /** Resolves once a stopped reader has finished (and acknowledged) the batch it had in hand. */
  drained(): Promise<void>;
}

export function createSubscriptionEvents(deps: SubscriptionEventsDeps): SubscriptionEventsService {
  const { activeSet, consumer, log } = deps;
  const ack = deps.ack ?? (async (redis: Redis, ids: string[]) => void (await redis.xack(SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, ...ids)));
  const blockMs = deps.blockMs ?? 5_000;
  // A whole scan's changes in one read: one verification, one HINTS, one message per action.
  const count = deps.batchSize ?? 1_000;
  const claimIdleMs = deps.claimIdleMs ?? 60_000;
  const rejectedLog = new LogThrottle(log, 10_000);
  let drained: Promise<void> = Promise.resolve();

  const logic = fromCallback(({ system }) => {
    const redis = deps.connect();
    let stopped = false;
    let busy = false;
    // The last acknowledgement, sent without waiting for its reply (see `handle`).
    let acking: Promise<void> = Promise.resolve();
    let ackFailure: unknown = null;
    const throwAckFailure = () => {
      if (ackFailure === null) return;
      const err = ackFailure;
      ackFailure = null;
      throw err;
    };

    /**
     * `pipelined`: the acknowledgement goes out without waiting for its reply (the live path).
     * Re-reads of pending entries wait for it: an ack that keeps failing (fenced out) must stop
     * them, not make them read the same entries again and again.
     */
    const handle = async (entries: RawEntry[], pipelined = false): Promise<void> => {
      if (entries.length === 0) return;
      const valid: ParsedEntry[] = [];
      for (const [id, fields] of entries) {
        // A deleted entry still pending comes back with null fields.
        const p = parseEntry(id, fields ?? []);
        if ('reason' in p) {
          rejected.inc({ reason: p.reason });
          rejectedLog.warn(p.reason, { event: 'subscription_event_rejected', id, reason: p.reason });
        } else valid.push(p);
      }
      if (valid.length > 0) {
        const symbols = [...new Set(valid.map((e) => e.symbol))];
        const verdict = await activeSet.check(symbols);
        const reconciler = peer(system, RECONCILER_ID);
        if (!reconciler) throw new Error('no reconciler registered in the actor system');
        reconciler.send({ type: 'HINTS', ...verdict } satisfies ReconcilerEvent);
        const now = Date.now();
        for (const e of valid) {
          handled.inc({ action: e.action });
          hintLatency.observe(Math.max(0, now - Number(e.id.split('-')[0])) / 1000);
          log.debug({ event: 'subscription_event', symbol: e.symbol, action: e.action, in_set: verdict.members[e.symbol] });
        }
      }
      // Pipelined ahead of the next read on this connection (Redis runs them in order), so
      // entries written meanwhile need not wait for this reply: back-to-back scanner writes
      // reach the upstream as fast as spaced ones. A failure surfaces at the loop's next turn.
      acking = ack(redis, entries.map(([id]) => id)).catch((err: unknown) => {
        ackFailure = err;
      });
      if (!pipelined) {
        await acking;
        throwAckFailure();
      }
    };

    const readGroup = async (id: '>' | '0', block: boolean): Promise<RawEntry[]> => {
      const res = (
        block
          ? await redis.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', SUBSCRIPTIONS_STREAM, id)
          : await redis.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, consumer, 'COUNT', count, 'STREAMS', SUBSCRIPTIONS_STREAM, id)
      ) as [string, RawEntry[]][] | null;
      return res?.[0]?.[1] ?? [];
    };

    const claimAbandoned = async (): Promise<void> => {
      let cursor = '0-0';
      do {
        const res = (await redis.call(
          'XAUTOCLAIM',
          SUBSCRIPTIONS_STREAM,
          SUBSCRIPTIONS_GROUP,
          consumer,
          claimIdleMs,
          cursor,
          'COUNT',
          count,
        )) as [string, RawEntry[], string[]?];
        cursor = res[0];
        if (res[1].length > 0) log.info({ event: 'subscription_events_reclaimed', count: res[1].length });
        await handleBusy(res[1]);
      } while (cursor !== '0-0' && !stopped);
    };

    const run = async () => {
      let failures = 0;
      let lastClaim = 0;
      let recovered = false;
      let groupReady = false;
      while (!stopped) {
        try {
          if (!groupReady) {
            await ensureGroup(redis);
            groupReady = true;
          }
          if (!recovered) {
            // Our own entries left pending by a crash of this consumer.
            for (let batch = await readGroup('0', false); batch.length > 0 && !stopped; batch = await readGroup('0', false)) {
              log.info({ event: 'subscription_events_recovered', count: batch.length });
              await handleBusy(batch);
            }
            recovered = true;
          }
          if (Date.now() - lastClaim > claimIdleMs / 2) {
            await claimAbandoned();
            lastClaim = Date.now();
          }
          throwAckFailure();
          const batch = await readGroup('>', true);
          throwAckFailure();
          await handleBusy(batch, true);
          if (batch.length === 0) await readConsumerLag(redis);
          failures = 0;
        } catch (err) {
          if (stopped) break;
          failures++;
          readErrors.inc();
          recovered = false;
          const message = err instanceof Error ? err.message : String(err);
          // The stream or the group was deleted (or Redis restarted empty): create it again.
          if (message.includes('NOGROUP')) groupReady = false;
          log.warn({ event: 'subscription_events_read_failed', error: message, failures });
          await new Promise((r) => setTimeout(r, backoffCeiling(failures, { baseMs: 100, maxMs: 5_000 })));
        }
      }
      await acking;
      if (ackFailure !== null) {
        log.warn({ event: 'subscription_events_ack_failed', error: ackFailure instanceof Error ? ackFailure.message : String(ackFailure), hint: 'the entries stay pending and are read again' });
      }
      redis.disconnect();
    };

    // A batch in hand is finished even when the actor is stopped meanwhile; once the reconciler
    // is gone (the term ended) its entries stay pending, to be read again by the next reader.
    const handleBusy = async (entries: RawEntry[], pipelined = false) => {
      busy = true;
      try {
        await handle(entries, pipelined);
      } finally {
        busy = false;
      }
    };

    drained = run();

    return () => {
      stopped = true;
      // Blocked in XREADGROUP with nothing in hand: unblock it once the last acknowledgement is
      // answered (this connection is the reader's alone). Otherwise the loop disconnects once
      // the batch is acknowledged.
      if (!busy) void acking.then(() => redis.disconnect());
    };
  });

  return { logic, drained: () => drained };
}
