// What the simulator's parts (sessions, faults, the market) share with the server that holds
// them: its log, counters and connections, whether it is silent or shutting down, and its ways
// to send to a connection and to tell listeners what happened.

import type { Logger } from '../shared/logger.js';
import type { Session, SessionRegistry } from './session.js';
import type { SimulatorCounters } from './stats.js';

export type PolygonSimulatorEvents = {
  connection: [connId: string, atMs: number];
  authenticated: [connId: string, atMs: number];
  /** A subscribe message arrived from an authenticated connection (before any ack delay). */
  subscribeRequested: [connId: string, symbols: string[], atMs: number];
  /** Acks were sent for these A symbols: the moment they became acknowledged. */
  subscribed: [connId: string, symbols: string[], atMs: number];
  unsubscribed: [connId: string, symbols: string[], atMs: number];
  /** `reason`: the server's own close reason, else the client's ('' when the socket was cut). */
  closed: [connId: string, code: number, atMs: number, reason: string];
};

export interface ServerContext {
  readonly log: Logger;
  readonly counters: SimulatorCounters;
  readonly sessions: SessionRegistry;
  isSilent(): boolean;
  isShuttingDown(): boolean;
  /** One frame of events; false when nothing went out (silent, or the connection is not live). */
  sendEvents(session: Session, events: readonly object[], evenIfSilent?: boolean): boolean;
  sendRaw(session: Session, payload: string, evenIfSilent?: boolean): boolean;
  /** Tells listeners; a listener that throws is logged, never breaks the server. */
  emit<K extends keyof PolygonSimulatorEvents>(name: K, ...args: PolygonSimulatorEvents[K]): void;
}
