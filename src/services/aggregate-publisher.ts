import { LogThrottle } from '../shared/log-throttle.js';
import type { Logger } from '../shared/logger.js';
import { counter } from '../shared/metrics.js';
import { AGGREGATES_STREAM, STREAM_DATA_FIELD } from '../shared/redis-keys.js';
import type { Aggregate } from '../upstream/codec.js';
import { FencedOut, type Command } from './leader-lease.js';

// Writes the upstream's per-second aggregates to `stream:realtime:aggregates`, one entry each,
// the event's JSON as the upstream sent it, with an approximate length bound. An aggregate for
// a symbol no longer wanted (late after an unsubscribe) is dropped. Prices are live data: while
// Redis is unreachable they are dropped and counted, never queued without bound.

const published = counter('livescan_aggregates_out_total', 'Aggregates written to stream:realtime:aggregates');
const dropped = counter('livescan_aggregates_dropped_total', 'Aggregates not written', ['reason']);

export interface AggregatePublisherDeps {
  /**
   * Runs one frame's XADDs at once: fenced by the leader lease, on a connection that fails fast
   * while Redis is away. Rejects with FencedOut when this instance is no longer the leader.
   */
  write: (commands: readonly Command[]) => Promise<void>;
  maxLen: number;
  isWanted: (symbol: string) => boolean;
  log: Logger;
}

export function createAggregatePublisher(deps: AggregatePublisherDeps) {
  // One line a second at most, with how many were held back: a Redis outage must not become a log storm.
  const failureLog = new LogThrottle(deps.log, 1_000);
  return (aggs: readonly Aggregate[]): void => {
    const commands: Command[] = [];
    for (const a of aggs) {
      if (deps.isWanted(a.sym)) commands.push(['XADD', AGGREGATES_STREAM, 'MAXLEN', '~', deps.maxLen, '*', STREAM_DATA_FIELD, JSON.stringify(a.raw)]);
    }
    const n = commands.length;
    // Counted once per frame, not per aggregate: a label lookup per price is work on the read path.
    if (n < aggs.length) dropped.inc({ reason: 'not_wanted' }, aggs.length - n);
    if (n === 0) return;
    deps.write(commands).then(
      () => published.inc(n),
      (err: unknown) => {
        dropped.inc({ reason: err instanceof FencedOut ? 'not_leader' : 'redis_unavailable' }, n);
        failureLog.warn('publish_failed', { event: 'aggregates_publish_failed', error: err instanceof Error ? err.message : String(err) });
      },
    );
  };
}
