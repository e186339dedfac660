import type { InFlight, SubAction, SubscriptionBook } from './subscription-book.js';

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

export function takeBatch(
  book: SubscriptionBook,
  batchSize: number,
  cycle: number,
  prefer: SubAction = 'subscribe',
): { batch: Batch | null; book: SubscriptionBook } {
  const subs: string[] = [];
  const unsubs: string[] = [];
  for (const [s, a] of Object.entries(book.pending)) {
    if (a === 'subscribe') {
      if (subs.length < batchSize) subs.push(s);
    } else if (unsubs.length < batchSize) unsubs.push(s);
    if ((prefer === 'subscribe' ? subs : unsubs).length >= batchSize) break;
  }
  const [first, second]: [SubAction, SubAction] = prefer === 'subscribe' ? ['subscribe', 'unsubscribe'] : ['unsubscribe', 'subscribe'];
  const of = (a: SubAction) => (a === 'subscribe' ? subs : unsubs);
  const batch: Batch | null =
    of(first).length > 0 ? { action: first, symbols: of(first) } : of(second).length > 0 ? { action: second, symbols: of(second) } : null;
  if (!batch) return { batch: null, book };
  const pending = { ...book.pending };
  const inFlight: Record<string, InFlight> = { ...book.inFlight };
  for (const s of batch.symbols) {
    delete pending[s];
    inFlight[s] = { action: batch.action, cycle };
  }
  return { batch, book: { ...book, pending, inFlight } };
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
