// The Redis names of the contract (shared/docs/contract.md), byte for byte. A scanner or a
// frontend written for the original system depends on them: change none.

export const ACTIVE_TICKERS_KEY = 'polygon_ws:active_tickers';
export const ACTIVE_TICKERS_TTL_S = 3600;

export const SUBSCRIPTIONS_STREAM = 'polygon_ws:subscriptions';
export const SUBSCRIPTIONS_GROUP = 'polygon_ws_subscriptions_group';

export const RANKING_DELTAS_STREAM = 'stream:ranking:deltas';
export const AGGREGATES_STREAM = 'stream:realtime:aggregates';

/** The field that carries a message's JSON in the ranking and aggregate streams. */
export const STREAM_DATA_FIELD = 'data';

export const CATEGORIES = [
  'gappers_up',
  'gappers_down',
  'momentum_up',
  'momentum_down',
  'winners',
  'losers',
  'high_volume',
  'new_highs',
  'new_lows',
  'anomalies',
  'reversals',
] as const;
export type Category = (typeof CATEGORIES)[number];

export function categoryKey(name: Category): string {
  return `scanner:category:${name}`;
}

export function isCategory(name: unknown): name is Category {
  return typeof name === 'string' && (CATEGORIES as readonly string[]).includes(name);
}

/**
 * Not in the seeds: each role writes a small JSON status here (with a short TTL) so the dashboard
 * and operators see every service's state from Redis alone.
 */
export function serviceStatusKey(role: 'scanner' | 'polygon-ws' | 'ws-server'): string {
  return `livescan:status:${role}`;
}
export const SERVICE_STATUS_TTL_S = 15;

/**
 * Not in the seeds: the polygon-ws leader lease of one API key, and its fencing-token counter.
 * `keyId` is a hash of the API key, never the key itself.
 */
export function leaderLeaseKey(keyId: string): string {
  return `polygon_ws:leader:${keyId}`;
}
export function leaderEpochKey(keyId: string): string {
  return `polygon_ws:leader_epoch:${keyId}`;
}
