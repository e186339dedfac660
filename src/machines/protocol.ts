import type { AnyActorRef } from 'xstate';

// The events the connection and reconciler actors exchange, and the system ids they are
// registered under. Both machines import this file and nothing of each other.

export const CONNECTION_ID = 'connection';
export const RECONCILER_ID = 'reconciler';

/** connection → reconciler */
export type LinkEvent =
  | { type: 'CONNECTED' }
  | { type: 'DISCONNECTED' }
  /** The upstream closed us right after a burst of our own messages: evidence to send slower. */
  | { type: 'SLOW_DOWN'; recentSends?: number }
  | { type: 'ACKED'; subscribed: string[]; unsubscribed: string[] };

/** reconciler → connection */
export type OutboxEvent = { type: 'SEND'; action: 'subscribe' | 'unsubscribe'; symbols: string[] } | { type: 'SYNCED' };

/**
 * The registered actor, or null. XState's `sendTo(system.get(x))` with no such actor delivers
 * the event to the sender itself without a word: every send between the two goes through here.
 */
export function peer(system: { get(id: string): unknown }, id: typeof CONNECTION_ID | typeof RECONCILER_ID): AnyActorRef | null {
  return (system.get(id) as AnyActorRef | undefined) ?? null;
}
