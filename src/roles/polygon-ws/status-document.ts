import type { PolygonWsStatus } from '../../services/http-api.js';

// The polygon-ws status document (Redis `livescan:status:polygon-ws`, read by the dashboard and
// operators): a short digest of the figures /stats reports.

export function statusDocumentOf(s: PolygonWsStatus): Record<string, unknown> {
  return {
    state: s.state,
    gap: s.gap,
    desired: s.desired,
    acknowledged: s.acknowledged,
    last_reconciliation: s.reconciler.last_reconciliation,
    reconnections: s.reconnections,
    close_1008_count: s.closesByCode['1008'] ?? 0,
    max_connections_kicks: s.maxConnectionsKicks,
    coverage: s.coverage,
    availability: s.availability.availability,
    longest_dark_seconds: s.availability.longestDarkSeconds,
    // The causes seen so far only: the card stays short while all is well.
    closes_by_cause: Object.fromEntries(Object.entries(s.closesByCause).filter(([, n]) => n > 0)),
  };
}
