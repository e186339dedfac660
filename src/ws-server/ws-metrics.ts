import { counter, gauge } from '../shared/metrics.js';

// The ws-server's Prometheus metrics (shared registry, served at /metrics). Hot paths add to them
// once per broadcast, not once per client.

export type OutKind = 'snapshot' | 'delta' | 'aggregate' | 'error' | 'pong';
export type DropReason =
  | 'slow_consumer'
  | 'dead'
  | 'rate_limit'
  | 'oversized'
  | 'protocol_error'
  | 'origin_refused'
  | 'capacity';

export const wsMetrics = {
  clients: gauge('livescan_ws_server_clients', 'Browser WebSocket clients connected now.'),
  connections: counter('livescan_ws_server_connections_total', 'Browser WebSocket connections accepted.'),
  messagesOut: counter('livescan_ws_server_messages_out_total', 'Messages sent to clients, by type.', ['type']),
  bytesOut: counter('livescan_ws_server_bytes_out_total', 'Payload bytes sent to clients, by message type.', ['type']),
  drops: counter(
    'livescan_ws_server_client_drops_total',
    'Clients dropped or refused, by reason (slow_consumer, dead, rate_limit, oversized, protocol_error, origin_refused, capacity).',
    ['reason'],
  ),
  clientErrors: counter('livescan_ws_server_client_errors_total', 'Client requests refused with an error message, by code.', ['code']),
  streamEntries: counter('livescan_ws_server_stream_entries_total', 'Stream entries read, by stream.', ['stream']),
  badEntries: counter('livescan_ws_server_stream_bad_entries_total', 'Stream entries skipped as malformed, by stream and reason.', [
    'stream',
    'reason',
  ]),
  streamLag: gauge(
    'livescan_ws_server_stream_lag_seconds',
    'Age of the newest entry of each stream when the ws-server read it (now minus the time in its id).',
    ['stream'],
  ),
  listResyncs: counter(
    'livescan_ws_server_list_resyncs_total',
    'Lists re-read from scanner:category:{name} and sent as fresh snapshots, by reason.',
    ['reason'],
  ),
  redisErrors: counter('livescan_ws_server_redis_errors_total', 'Failed Redis reads of the ws-server.', ['operation']),
};
