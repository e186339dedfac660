import { Writable } from 'node:stream';
import { CLOSE_CAUSES } from '../../../src/machines/connection.machine.js';
import type { ReconcileResult } from '../../../src/machines/reconciler.machine.js';
import type { PolygonWsStatus, PolygonWsView } from '../../../src/services/http-api.js';
import { createLogger, type Logger } from '../../../src/shared/logger.js';

// A polygon-ws view without an actor system behind it, for the HTTP API alone.

export const FORCE_RESULT: ReconcileResult = {
  status: 'ok',
  at: '2025-01-02T14:30:00.000Z',
  cycle: 7,
  connected: true,
  desired: 2,
  acknowledged: 2,
  in_flight: 0,
  pending: 0,
  drift: 0,
  missing: [],
  extra: [],
  corrections: 0,
};

export function liveStatus(over: Partial<PolygonWsStatus> = {}): PolygonWsStatus {
  return {
    state: 'live',
    acknowledged: 2,
    desired: 2,
    gap: 0,
    inFlight: 0,
    pending: 0,
    reconciler: {
      reconciliations_count: 7,
      total_drift_detected: 1,
      total_corrections: 1,
      last_reconciliation: '2025-01-02T14:30:00.000Z',
      resubscriptions: 0,
      set_missing_reads: 0,
      read_failures: 0,
      hints_applied: 3,
      hints_ignored: 0,
      batches_sent: 2,
      channels_sent: 2,
      slow_downs: 0,
    },
    lastResult: FORCE_RESULT,
    reconnections: 0,
    reconnectionsLastHour: 0,
    closesByCode: {},
    closesByCause: Object.fromEntries(CLOSE_CAUSES.map((c) => [c, 0])) as PolygonWsStatus['closesByCause'],
    lastClose: null,
    maxConnectionsKicks: 0,
    coverage: 1,
    availability: { availability: 1, meanShare: 1, measuredSeconds: 60, longestDarkSeconds: 0, darkForSeconds: 0 },
    messagesIn: 10,
    messagesOut: 3,
    framesRejected: 0,
    lastError: null,
    flow: { factor: 1, burst: 20, messagesPerSecond: 10, tokens: 20 },
    ...over,
  };
}

export interface FakeView extends PolygonWsView {
  forced: number;
}

export function fakeView(opts: { status?: () => PolygonWsStatus; force?: () => Promise<ReconcileResult> } = {}): FakeView {
  const view: FakeView = {
    forced: 0,
    status: opts.status ?? (() => liveStatus()),
    subscriptions: () => ['AAPL', 'MSFT'],
    force: () => {
      view.forced++;
      return opts.force ? opts.force() : Promise.resolve(FORCE_RESULT);
    },
    consumerLag: () => Promise.resolve(0),
  };
  return view;
}

/** A logger whose lines are kept, parsed, for assertions. */
export function capturedLogger(secrets: readonly string[] = []): { log: Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const log = createLogger({ level: 'trace', destination: dest, secrets });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
