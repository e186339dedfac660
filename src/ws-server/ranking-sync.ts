import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { CATEGORIES, categoryKey, RANKING_DELTAS_STREAM, type Category } from '../shared/redis-keys.js';
import { encodeDelta } from './client-protocol.js';
import { applyDeltaItems, type ListStore, type Row } from './list-store.js';
import { LogThrottle } from '../shared/log-throttle.js';
import { dataField, parseCategoryValue, parseRankingData, type RankingMessage } from './stream-messages.js';
import { wsMetrics } from './ws-metrics.js';

// Keeps the list store in step with the scanner and tells the clients what changed.
//
// Per list, a client sees a snapshot and then deltas numbered exactly previous+1. The scanner's
// sequence numbers are forwarded as they are; a delta that is not the store's next one means the
// ws-server missed something (a restart, a trimmed stream, a scanner restart): the list is re-read
// from scanner:category:{name}, the delta is applied on top (deltas are idempotent), and the
// clients get a fresh snapshot carrying that delta's sequence instead of the delta. So a client
// never sees a gap or a repeat, only, rarely, an unannounced snapshot.

export interface RankingOutput {
  broadcastSnapshot(list: Category): number;
  broadcastDelta(list: Category, frame: Buffer): number;
}

export interface RankingSyncOptions {
  store: ListStore;
  /** A non-blocking command connection. */
  redis: Redis;
  out: RankingOutput;
  log: Logger;
  /** Most stream entries read backwards at bootstrap to find each list's last sequence. */
  scanBackLimit?: number;
}

const PAGE = 200;

type ExecReply = [Error | null, unknown][] | null;

function isEntryList(v: unknown): v is [string, string[]][] {
  return Array.isArray(v);
}

export class RankingSync {
  private readonly throttle: LogThrottle;

  constructor(private readonly opts: RankingSyncOptions) {
    this.throttle = new LogThrottle(opts.log);
  }

  /**
   * Read every list from its category key and the stream position in one transaction, find
   * each list's last message at or before that position, and send a snapshot of each list that
   * changed. Returns the position to follow the stream from ('0-0' when it is empty).
   */
  async bootstrap(reason: 'startup' | 'position_lost'): Promise<string> {
    const { redis, store, out, log } = this.opts;
    const tx = redis.multi();
    for (const list of CATEGORIES) tx.get(categoryKey(list));
    tx.xrevrange(RANKING_DELTAS_STREAM, '+', '-', 'COUNT', 1);
    const reply = (await tx.exec()) as ExecReply;
    if (!reply) throw new Error('bootstrap transaction was aborted');
    const tail = reply[CATEGORIES.length];
    const newest = tail && !tail[0] && isEntryList(tail[1]) ? tail[1][0] : undefined;
    if (tail?.[0]) log.warn({ event: 'ranking_stream_unreadable', stream: RANKING_DELTAS_STREAM, error: tail[0].message });
    const position = newest?.[0] ?? '0-0';
    const latest = newest ? await this.latestPerList(position) : new Map<Category, RankingMessage>();

    let resent = 0;
    let unknown = 0;
    CATEGORIES.forEach((list, i) => {
      const [err, raw] = reply[i] ?? [null, null];
      const key = err ? ({ ok: false, reason: 'unreadable' } as const) : parseCategoryValue(typeof raw === 'string' ? raw : null);
      if (key && !key.ok) {
        wsMetrics.badEntries.inc({ stream: 'category_key', reason: key.reason });
        log.warn({ event: 'category_key_invalid', list, key: categoryKey(list), reason: key.reason });
      }
      let rows: Row[] | null = key?.ok ? key.value.rows : null;
      let sequence: number | null = null;
      const msg = latest.get(list);
      if (msg?.type === 'snapshot') {
        rows = msg.rows;
        sequence = msg.sequence;
      } else if (msg?.type === 'delta' && rows) {
        rows = applyDeltaItems(rows, msg.deltas);
        sequence = msg.sequence;
      }
      if (!rows) {
        // No key yet (a scanner that has not run, a Redis that lost its data): keep what we
        // have, and let the list's next delta re-read it.
        store.markUnknown(list);
        unknown++;
        return;
      }
      if (sequence === null) unknown++;
      if (store.replace(list, rows, sequence)) {
        out.broadcastSnapshot(list);
        wsMetrics.listResyncs.inc({ reason });
        resent++;
      }
    });
    log.info({
      event: 'ranking_bootstrap',
      reason,
      position,
      lists_with_sequence: CATEGORIES.length - unknown,
      lists_without_sequence: unknown,
      snapshots_sent: resent,
      symbols: store.symbolCount(),
    });
    return position;
  }

  /** The newest valid message of each list at or before `position`, reading backwards. */
  private async latestPerList(position: string): Promise<Map<Category, RankingMessage>> {
    const found = new Map<Category, RankingMessage>();
    const limit = this.opts.scanBackLimit ?? 5_000;
    let end = position;
    let scanned = 0;
    let first = true;
    while (found.size < CATEGORIES.length && scanned < limit) {
      const page = await this.opts.redis.xrevrange(RANKING_DELTAS_STREAM, first ? end : `(${end}`, '-', 'COUNT', PAGE);
      first = false;
      for (const [id, fields] of page) {
        scanned++;
        end = id;
        const p = parseRankingData(dataField(fields));
        if (p.ok && !found.has(p.value.list)) found.set(p.value.list, p.value);
      }
      if (page.length < PAGE) break;
    }
    return found;
  }

  /** One entry of stream:ranking:deltas. Throws only when Redis fails (the entry is retried). */
  async handleEntry(id: string, fields: string[]): Promise<void> {
    const { store, out, log } = this.opts;
    const parsed = parseRankingData(dataField(fields));
    if (!parsed.ok) {
      wsMetrics.badEntries.inc({ stream: RANKING_DELTAS_STREAM, reason: parsed.reason });
      this.throttle.warn(`bad:${parsed.reason}`, { event: 'ranking_entry_invalid', id, reason: parsed.reason });
      return;
    }
    const msg = parsed.value;
    if (msg.skipped > 0) {
      wsMetrics.badEntries.inc({ stream: RANKING_DELTAS_STREAM, reason: 'invalid_item' }, msg.skipped);
      this.throttle.warn(`items:${msg.list}`, { event: 'ranking_items_invalid', id, list: msg.list, skipped: msg.skipped });
    }
    if (msg.type === 'snapshot') {
      if (store.replace(msg.list, msg.rows, msg.sequence)) out.broadcastSnapshot(msg.list);
      return;
    }
    switch (store.step(msg.list, msg.sequence)) {
      case 'next':
        store.apply(msg.list, msg.deltas, msg.sequence);
        out.broadcastDelta(msg.list, Buffer.from(encodeDelta(msg), 'utf8'));
        return;
      case 'duplicate':
        wsMetrics.badEntries.inc({ stream: RANKING_DELTAS_STREAM, reason: 'duplicate_sequence' });
        this.throttle.warn(`dup:${msg.list}`, { event: 'ranking_delta_duplicate', id, list: msg.list, sequence: msg.sequence });
        return;
      case 'gap':
        await this.resyncList(msg.list, msg.sequence, msg.deltas, id);
    }
  }

  private async resyncList(
    list: Category,
    sequence: number,
    deltas: Extract<RankingMessage, { type: 'delta' }>['deltas'],
    id: string,
  ): Promise<void> {
    const { store, out, log, redis } = this.opts;
    const before = store.get(list);
    const key = parseCategoryValue(await redis.get(categoryKey(list)));
    const base = key?.ok ? key.value.rows : before.rows;
    store.replace(list, applyDeltaItems(base, deltas), sequence);
    out.broadcastSnapshot(list);
    const reason = before.known ? 'sequence_gap' : 'unknown_sequence';
    wsMetrics.listResyncs.inc({ reason });
    const fields = {
      event: 'ranking_list_resynced',
      reason,
      list,
      id,
      expected: before.known ? before.sequence + 1 : null,
      got: sequence,
      source: key?.ok ? 'category_key' : 'memory',
    };
    if (before.known) log.warn(fields);
    else log.info(fields);
  }
}
