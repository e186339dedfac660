import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { AGGREGATES_STREAM, RANKING_DELTAS_STREAM } from '../shared/redis-keys.js';
import type { ClientHub, TickPrice } from './client-hub.js';
import { encodeAggregateItem } from './client-protocol.js';
import { maskOf } from './list-mask.js';
import type { ListStore } from './list-store.js';
import { LogThrottle } from '../shared/log-throttle.js';
import type { RankingSync } from './ranking-sync.js';
import type { StreamHandler } from './stream-follower.js';
import { dataField, parseAggregateData } from './stream-messages.js';
import { wsMetrics } from './ws-metrics.js';

// The two streams the ws-server follows, each as a StreamHandler: where to start, what to do
// with an entry, where to resume when the stream lost our position.

export function rankingHandler(sync: RankingSync): StreamHandler {
  return {
    stream: RANKING_DELTAS_STREAM,
    start: () => sync.bootstrap('startup'),
    handle: (id, fields) => sync.handleEntry(id, fields),
    // Whatever was lost, the category keys and the newest entries tell the truth again.
    positionLost: () => sync.bootstrap('position_lost'),
  };
}

export function aggregatesHandler(opts: { redis: Redis; store: ListStore; hub: ClientHub; log: Logger }): StreamHandler {
  const throttle = new LogThrottle(opts.log);
  // The tick being read: polygon-ws writes each upstream frame's aggregates in one atomic
  // script, so one XREAD returns whole frames, and what it returns goes out as one batch.
  let tick: TickPrice[] = [];
  return {
    stream: AGGREGATES_STREAM,
    // Old prices are not replayed to anyone: start at the end.
    start: async () => (await opts.redis.xrevrange(AGGREGATES_STREAM, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0',
    handle: (id, fields) => {
      const p = parseAggregateData(dataField(fields));
      if (!p.ok) {
        wsMetrics.badEntries.inc({ stream: AGGREGATES_STREAM, reason: p.reason });
        throttle.warn(p.reason, { event: 'aggregate_entry_invalid', id, reason: p.reason });
        return;
      }
      // Routed by the lists holding the symbol now, when the price is read.
      const lists = opts.store.listsOf(p.value.symbol);
      if (!lists) return;
      tick.push({ lists: maskOf(lists), item: encodeAggregateItem(p.value) });
    },
    endOfRead: () => {
      const prices = tick;
      tick = [];
      opts.hub.broadcastTick(prices);
    },
    positionLost: async (loss) => {
      // Empty (Redis restarted without data): everything that comes is new. Reset to an older
      // history: its entries cannot be placed, start at its end. Trimmed: read what is left.
      if (loss.kind === 'stream_empty') return '0-0';
      if (loss.kind === 'stream_reset') return loss.newestId ?? '0-0';
      return loss.lastId;
    },
  };
}
