import type { InFlight, SubAction, SubscriptionBook } from './subscription-book.js';

// Cuts what is pending into upstream messages: one action per message, at most `batchSize`
// channels, subscribes before unsubscribes (data a trader waits for comes first). Pacing
// between messages is the reconciler machine's `outbox` region, not this module's.

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
): { batch: Batch | null; book: SubscriptionBook } {
  const subs: string[] = [];
  const unsubs: string[] = [];
  for (const [s, a] of Object.entries(book.pending)) {
    if (a === 'subscribe') {
      if (subs.length < batchSize) subs.push(s);
    } else if (unsubs.length < batchSize) unsubs.push(s);
    if (subs.length >= batchSize) break;
  }
  const batch: Batch | null =
    subs.length > 0 ? { action: 'subscribe', symbols: subs } : unsubs.length > 0 ? { action: 'unsubscribe', symbols: unsubs } : null;
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
