import { countOf, type InFlight, type SubAction, type SubscriptionBook } from './subscription-book.js';

// Cuts what is pending into upstream messages: one action per message, at most `batchSize`
// channels. The caller names the action it prefers (the reconciler alternates), so neither
// subscribes nor unsubscribes wait behind the other's backlog. How many messages may go out, and
// when, is the reconciler machine's flow control (src/subscriptions/flow-control.ts).

export interface Batch {
  action: SubAction;
  symbols: string[];
}

export function hasPending(book: SubscriptionBook): boolean {
  for (const _ in book.pending) return true;
  return false;
}

export function hasInFlight(book: SubscriptionBook): boolean {
  for (const _ in book.inFlight) return true;
  return false;
}

export interface BatchLimits {
  /** Most channels in one message. */
  batchSize: number;
  /** Most messages to cut now. */
  messages: number;
  /** Channels the next message may carry (the window's free room), given what was cut so far. */
  room: (inFlight: number, pending: Readonly<Record<string, SubAction>>) => number;
  /** The action of the message cut before these: the next one prefers the other. */
  lastAction: SubAction | null;
  cycle: number;
}

/**
 * Cut up to `limits.messages` messages at once, alternating actions when both are pending. One
 * copy of the book and one pass over what is pending, whatever the number of messages: a
 * resubscription of 10,000 tickers costs what one scan of them costs.
 */
export function takeBatches(book: SubscriptionBook, limits: BatchLimits): { batches: Batch[]; book: SubscriptionBook } {
  const batches: Batch[] = [];
  let pending: Record<string, SubAction> | null = null;
  let inFlight: Record<string, InFlight> | null = null;
  let inFlightCount = countOf(book.inFlight);
  let last = limits.lastAction;
  while (batches.length < limits.messages) {
    const source = pending ?? book.pending;
    const room = Math.min(limits.batchSize, limits.room(inFlightCount, source));
    if (room <= 0) break;
    const prefer: SubAction = last === 'subscribe' ? 'unsubscribe' : 'subscribe';
    const subs: string[] = [];
    const unsubs: string[] = [];
    for (const s in source) {
      if (source[s] === 'subscribe') {
        if (subs.length < room) subs.push(s);
      } else if (unsubs.length < room) unsubs.push(s);
      if ((prefer === 'subscribe' ? subs : unsubs).length >= room) break;
    }
    const first = prefer === 'subscribe' ? subs : unsubs;
    const symbols = first.length > 0 ? first : prefer === 'subscribe' ? unsubs : subs;
    if (symbols.length === 0) break;
    const action: SubAction = first.length > 0 ? prefer : prefer === 'subscribe' ? 'unsubscribe' : 'subscribe';
    pending ??= { ...book.pending };
    inFlight ??= { ...book.inFlight };
    for (const s of symbols) {
      delete pending[s];
      inFlight[s] = { action, cycle: limits.cycle };
    }
    inFlightCount += symbols.length;
    batches.push({ action, symbols });
    last = action;
  }
  return pending && inFlight ? { batches, book: { ...book, pending, inFlight } } : { batches, book };
}

/** Apply one frame's acknowledgements. Acks for symbols we never asked for still count: they are the truth. */
export function applyAcks(book: SubscriptionBook, subscribed: readonly string[], unsubscribed: readonly string[]): SubscriptionBook {
  if (subscribed.length === 0 && unsubscribed.length === 0) return book;
  const acked: Record<string, true> = { ...book.acked };
  const inFlight: Record<string, InFlight> = { ...book.inFlight };
  for (const s of subscribed) {
    acked[s] = true;
    if (inFlight[s]?.action === 'subscribe') delete inFlight[s];
  }
  for (const s of unsubscribed) {
    delete acked[s];
    if (inFlight[s]?.action === 'unsubscribe') delete inFlight[s];
  }
  return { ...book, acked, inFlight };
}
