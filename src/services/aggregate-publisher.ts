import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { counter } from '../shared/metrics.js';
import { AGGREGATES_STREAM, STREAM_DATA_FIELD } from '../shared/redis-keys.js';
import type { Aggregate } from '../upstream/codec.js';

// Writes the upstream's per-second aggregates to `stream:realtime:aggregates`, one entry each,
// the event's JSON as the upstream sent it, with an approximate length bound. An aggregate for
// a symbol no longer wanted (late after an unsubscribe) is dropped. Prices are live data: while
// Redis is unreachable they are dropped and counted, never queued without bound.

const published = counter('livescan_aggregates_out_total', 'Aggregates written to stream:realtime:aggregates');
const dropped = counter('livescan_aggregates_dropped_total', 'Aggregates not written', ['reason']);

export interface AggregatePublisherDeps {
  /** A connection with `enableOfflineQueue: false`, so a Redis outage fails fast. */
  redis: Redis;
  maxLen: number;
  isWanted: (symbol: string) => boolean;
  log: Logger;
}

export function createAggregatePublisher(deps: AggregatePublisherDeps) {
  let lastFailureLog = 0;
  return (aggs: readonly Aggregate[]): void => {
    const pipe = deps.redis.pipeline();
    let n = 0;
    for (const a of aggs) {
      if (!deps.isWanted(a.sym)) {
        dropped.inc({ reason: 'not_wanted' });
        continue;
      }
      pipe.xadd(AGGREGATES_STREAM, 'MAXLEN', '~', deps.maxLen, '*', STREAM_DATA_FIELD, JSON.stringify(a.raw));
      n++;
    }
    if (n === 0) return;
    pipe.exec().then(
      (res) => {
        const failed = res?.filter(([err]) => err).length ?? n;
        published.inc(n - failed);
        if (failed > 0) dropped.inc({ reason: 'redis_error' }, failed);
      },
      (err: unknown) => {
        dropped.inc({ reason: 'redis_unavailable' }, n);
        // One line a second at most: a Redis outage must not become a log storm.
        if (Date.now() - lastFailureLog > 1000) {
          lastFailureLog = Date.now();
          deps.log.warn({ event: 'aggregates_publish_failed', error: err instanceof Error ? err.message : String(err) });
        }
      },
    );
  };
}
