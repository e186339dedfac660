import { counter, gauge, histogram } from '../shared/metrics.js';

// The ws-server's Prometheus metrics (shared registry, served at /metrics).
//
// What the client hub counts (clients, connections, messages and bytes out, drops, refused
// requests) is counted once, in a hub's WsTally: /health and the status document read the tally,
// and the Prometheus series below read the same numbers when scraped (summed over the hubs of the
// process: one in production, several in a test process). No figure is kept twice.

export type OutKind = 'snapshot' | 'delta' | 'aggregate' | 'aggregates' | 'error' | 'pong';
export const OUT_KINDS: readonly OutKind[] = ['snapshot', 'delta', 'aggregate', 'aggregates', 'error', 'pong'];

export type DropReason =
  | 'slow_consumer'
  | 'dead'
  | 'rate_limit'
  | 'oversized'
  | 'protocol_error'
  | 'origin_refused'
  | 'capacity';

/** One hub's figures, the only place they are counted. */
export class WsTally {
  clients = 0;
  connections = 0;
  readonly messages_out = Object.fromEntries(OUT_KINDS.map((k) => [k, 0])) as Record<OutKind, number>;
  readonly bytes_out = Object.fromEntries(OUT_KINDS.map((k) => [k, 0])) as Record<OutKind, number>;
  readonly drops: Partial<Record<DropReason, number>> = {};
  readonly client_errors: Partial<Record<string, number>> = {};

  constructor() {
    // Kept for the process's life, so the counters below never go down when a hub closes.
    tallies.push(this);
  }
}

const tallies: WsTally[] = [];

function sumBy(pick: (t: WsTally) => Partial<Record<string, number>>): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tallies) for (const [k, v] of Object.entries(pick(t))) out.set(k, (out.get(k) ?? 0) + (v ?? 0));
  return out;
}

/** A counter whose value is read from the tallies at scrape time. */
function tallyCounter<L extends string>(name: string, help: string, label: L, pick: (t: WsTally) => Partial<Record<string, number>>): void {
  counter(name, help, [label], function () {
    this.reset();
    for (const [k, v] of sumBy(pick)) this.inc({ [label]: k } as Partial<Record<L, string>>, v);
  });
}

const total = (pick: (t: WsTally) => number) => tallies.reduce((a, t) => a + pick(t), 0);

gauge('livescan_ws_server_clients', 'Browser WebSocket clients connected now.', [], function () {
  this.set(total((t) => t.clients));
});
counter('livescan_ws_server_connections_total', 'Browser WebSocket connections accepted.', [], function () {
  this.reset();
  this.inc(total((t) => t.connections));
});
tallyCounter('livescan_ws_server_messages_out_total', 'Messages (WebSocket frames) sent to clients, by type.', 'type', (t) => t.messages_out);
tallyCounter('livescan_ws_server_bytes_out_total', 'Payload bytes sent to clients, by message type.', 'type', (t) => t.bytes_out);
tallyCounter(
  'livescan_ws_server_client_drops_total',
  'Clients dropped or refused, by reason (slow_consumer, dead, rate_limit, oversized, protocol_error, origin_refused, capacity).',
  'reason',
  (t) => t.drops,
);
tallyCounter('livescan_ws_server_client_errors_total', 'Client requests refused with an error message, by code.', 'code', (t) => t.client_errors);

export const wsMetrics = {
  streamEntries: counter('livescan_ws_server_stream_entries_total', 'Stream entries read, by stream.', ['stream']),
  badEntries: counter('livescan_ws_server_stream_bad_entries_total', 'Stream entries skipped as malformed, by stream and reason.', [
    'stream',
    'reason',
  ]),
  streamLag: gauge(
    'livescan_ws_server_stream_lag_seconds',
    'Age of the newest entry of each stream when the ws-server read it (now minus the time in its id), before handling it.',
    ['stream'],
  ),
  tickFanout: histogram(
    'livescan_ws_server_aggregate_tick_seconds',
    'Time to send one tick of live prices (the aggregates read together) to every client, encoding included.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  ),
  listResyncs: counter(
    'livescan_ws_server_list_resyncs_total',
    'Lists re-read from scanner:category:{name} and sent as fresh snapshots, by reason.',
    ['reason'],
  ),
  redisErrors: counter('livescan_ws_server_redis_errors_total', 'Failed Redis reads of the ws-server.', ['operation']),
};
