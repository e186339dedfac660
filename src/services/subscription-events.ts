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
import { AckPipeline } from './subscription-events/ack-pipeline.js';

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
  // is not `AMPB`), so one is never upper-cased. isValidSymbol admits printable ASCII only.
  const symbol = rec.symbol?.trim();
  if (!symbol) return { id, reason: 'missing_symbol' };
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

interface ReaderSettings {
  consumer: string;
  log: Logger;
  activeSet: ActiveSet;
  blockMs: number;
  count: number;
  claimIdleMs: number;
  rejectedLog: LogThrottle;
}

/** One run of the reader: its own connection, its loop, its pipeline of acknowledgements. */
class SubscriptionReader {
  private stopped = false;
  private busy = false;
  private readonly acks: AckPipeline;

  constructor(
    private readonly redis: Redis,
    private readonly settings: ReaderSettings,
    private readonly system: Parameters<typeof peer>[0],
    ack: (redis: Redis, ids: string[]) => Promise<void>,
  ) {
    this.acks = new AckPipeline((ids) => ack(redis, ids));
  }

  async run(): Promise<void> {
    const { log } = this.settings;
    let failures = 0;
    let lastClaim = 0;
    let recovered = false;
    let groupReady = false;
    while (!this.stopped) {
      try {
        if (!groupReady) {
          await ensureGroup(this.redis);
          groupReady = true;
        }
        if (!recovered) {
          await this.recoverOwnPending();
          recovered = true;
        }
        if (Date.now() - lastClaim > this.settings.claimIdleMs / 2) {
          await this.claimAbandoned();
          lastClaim = Date.now();
        }
        this.acks.throwFailure();
        const batch = await this.readGroup('>', true);
        this.acks.throwFailure();
        await this.handleBusy(batch, true);
        if (batch.length === 0) await readConsumerLag(this.redis);
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
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
    await this.acks.settled();
    const failure = this.acks.pendingFailure();
    if (failure !== null) {
      log.warn({ event: 'subscription_events_ack_failed', error: failure instanceof Error ? failure.message : String(failure), hint: 'the entries stay pending and are read again' });
    }
    this.redis.disconnect();
  }

  stop(): void {
    this.stopped = true;
    // Blocked in XREADGROUP with nothing in hand: unblock it once the last acknowledgement is
    // answered (this connection is the reader's alone). Otherwise the loop disconnects once
    // the batch is acknowledged.
    if (!this.busy) void this.acks.settled().then(() => this.redis.disconnect());
  }

  /** Our own entries left pending by a crash of this consumer. */
  private async recoverOwnPending(): Promise<void> {
    for (let batch = await this.readGroup('0', false); batch.length > 0 && !this.stopped; batch = await this.readGroup('0', false)) {
      this.settings.log.info({ event: 'subscription_events_recovered', count: batch.length });
      await this.handleBusy(batch);
    }
  }

  private async readGroup(id: '>' | '0', block: boolean): Promise<RawEntry[]> {
    const { consumer, count, blockMs } = this.settings;
    const res = (
      block
        ? await this.redis.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', SUBSCRIPTIONS_STREAM, id)
        : await this.redis.xreadgroup('GROUP', SUBSCRIPTIONS_GROUP, consumer, 'COUNT', count, 'STREAMS', SUBSCRIPTIONS_STREAM, id)
    ) as [string, RawEntry[]][] | null;
    return res?.[0]?.[1] ?? [];
  }

  private async claimAbandoned(): Promise<void> {
    const { consumer, count, claimIdleMs, log } = this.settings;
    let cursor = '0-0';
    do {
      const res = (await this.redis.call('XAUTOCLAIM', SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, consumer, claimIdleMs, cursor, 'COUNT', count)) as [
        string,
        RawEntry[],
        string[]?,
      ];
      cursor = res[0];
      if (res[1].length > 0) log.info({ event: 'subscription_events_reclaimed', count: res[1].length });
      await this.handleBusy(res[1]);
    } while (cursor !== '0-0' && !this.stopped);
  }

  // A batch in hand is finished even when the actor is stopped meanwhile; once the reconciler
  // is gone (the term ended) its entries stay pending, to be read again by the next reader.
  private async handleBusy(entries: RawEntry[], pipelined = false): Promise<void> {
    this.busy = true;
    try {
      await this.handle(entries, pipelined);
    } finally {
      this.busy = false;
    }
  }

  /** `pipelined`: the acknowledgement goes out without waiting for its reply (the live path; see AckPipeline). */
  private async handle(entries: RawEntry[], pipelined: boolean): Promise<void> {
    if (entries.length === 0) return;
    const valid: ParsedEntry[] = [];
    for (const [id, fields] of entries) {
      // A deleted entry still pending comes back with null fields.
      const p = parseEntry(id, fields ?? []);
      if ('reason' in p) {
        rejected.inc({ reason: p.reason });
        this.settings.rejectedLog.warn(p.reason, { event: 'subscription_event_rejected', id, reason: p.reason });
      } else valid.push(p);
    }
    if (valid.length > 0) await this.hint(valid);
    await this.acks.send(
      entries.map(([id]) => id),
      pipelined,
    );
  }

  /** The reconciler is told what the SET says now of the entries' symbols. */
  private async hint(valid: ParsedEntry[]): Promise<void> {
    const symbols = [...new Set(valid.map((e) => e.symbol))];
    const verdict = await this.settings.activeSet.check(symbols);
    const reconciler = peer(this.system, RECONCILER_ID);
    if (!reconciler) throw new Error('no reconciler registered in the actor system');
    reconciler.send({ type: 'HINTS', ...verdict } satisfies ReconcilerEvent);
    const now = Date.now();
    for (const e of valid) {
      handled.inc({ action: e.action });
      hintLatency.observe(Math.max(0, now - Number(e.id.split('-')[0])) / 1000);
      this.settings.log.debug({ event: 'subscription_event', symbol: e.symbol, action: e.action, in_set: verdict.members[e.symbol] });
    }
  }
}

export function createSubscriptionEvents(deps: SubscriptionEventsDeps): SubscriptionEventsService {
  const ack = deps.ack ?? (async (redis: Redis, ids: string[]) => void (await redis.xack(SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, ...ids)));
  const settings: ReaderSettings = {
    consumer: deps.consumer,
    log: deps.log,
    activeSet: deps.activeSet,
    blockMs: deps.blockMs ?? 5_000,
    // A whole scan's changes in one read: one verification, one HINTS, one message per action.
    count: deps.batchSize ?? 1_000,
    claimIdleMs: deps.claimIdleMs ?? 60_000,
    rejectedLog: new LogThrottle(deps.log, 10_000),
  };
  let drained: Promise<void> = Promise.resolve();

  const logic = fromCallback(({ system }) => {
    const reader = new SubscriptionReader(deps.connect(), settings, system, ack);
    drained = reader.run();
    return () => reader.stop();
  });

  return { logic, drained: () => drained };
}
