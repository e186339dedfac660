import type { ConnectionActor } from '../../machines/connection.machine.js';
import { CONNECTION_ID, RECONCILER_ID } from '../../machines/protocol.js';
import type { ReconcilerActor } from '../../machines/reconciler.machine.js';
import type { FigureBook } from './figures.js';
import type { PolygonWsTelemetry } from './telemetry.js';

// The connection and the reconciler exist only while this instance leads: each term brings new
// actors. This follows them as they come and go, and hands their events and snapshots to the
// telemetry; what must outlive a term is kept in the figure book.

/** The flat state name operators see: idle, connecting, authenticating, syncing, live, backoff… */
export function connectionStateName(conn: ConnectionActor): string {
  const v = conn.getSnapshot().value;
  if (typeof v === 'string') return v;
  const open = (v as { open?: { phase?: string } }).open;
  return open?.phase ?? JSON.stringify(v);
}

export interface Terms {
  /** The current term's actors; null while standing by. */
  connection(): ConnectionActor | null;
  reconciler(): ReconcilerActor | null;
  /** Whether the current term wants a symbol's aggregates: in the SET, or acknowledged before the SET is known. */
  wants(symbol: string): boolean;
  /**
   * Called on every snapshot of the polygon-ws actor: picks up a new term's actors, or their end,
   * and reports them to `telemetry`.
   */
  follow(system: { get(id: string): unknown }, telemetry: PolygonWsTelemetry): void;
}

export function createTerms(figures: FigureBook): Terms {
  let conn: ConnectionActor | null = null;
  let reconciler: ReconcilerActor | null = null;

  const attachConnection = (c: ConnectionActor, telemetry: PolygonWsTelemetry) => {
    c.on('*', telemetry.onConnectionEvent);
    let lastError: string | null = null;
    c.subscribe((snap) => {
      telemetry.setLive(connectionStateName(c) === 'live');
      const e = snap.context.lastError;
      if (e !== lastError && e !== null) figures.noteError(e);
      lastError = e;
    });
  };

  const attachReconciler = (r: ReconcilerActor, telemetry: PolygonWsTelemetry) => {
    r.on('*', telemetry.onReconcilerEvent);
    r.subscribe((snap) =>
      telemetry.onReconciler({ book: snap.context.book, rateFactor: snap.context.flow.factor, setPresent: snap.matches({ presence: 'present' }) }),
    );
  };

  return {
    connection: () => conn,
    reconciler: () => reconciler,
    wants(symbol) {
      const book = reconciler?.getSnapshot().context.book;
      if (!book) return false;
      return book.desired ? book.desired[symbol] === true : book.acked[symbol] === true;
    },
    follow(system, telemetry) {
      const c = (system.get(CONNECTION_ID) as ConnectionActor | undefined) ?? null;
      if (c !== conn) {
        if (conn) telemetry.connectionGone();
        conn = c;
        if (c) attachConnection(c, telemetry);
        else telemetry.setLive(false);
      }
      const r = (system.get(RECONCILER_ID) as ReconcilerActor | undefined) ?? null;
      if (r !== reconciler) {
        reconciler = r;
        if (r) attachReconciler(r, telemetry);
        else telemetry.onReconciler(null);
      }
    },
  };
}
