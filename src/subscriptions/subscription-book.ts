// The reconciler's ledger, as plain serialisable data and pure functions: what the SET wants
// (`desired`), what the upstream has acknowledged (`acked`: the only proof of a subscription),
// what was sent and awaits its ack (`inFlight`), and what still has to be sent (`pending`).
// `pending` is derived per symbol from the other three, so a subscribe and an unsubscribe of
// one symbol that are both waiting coalesce into whatever the SET says now.

export type SubAction = 'subscribe' | 'unsubscribe';
export type SymbolSet = Readonly<Record<string, true>>;

export interface InFlight {
  readonly action: SubAction;
  /** Reconciliation cycle in which it was sent: an ack still missing two cycles later is presumed lost. */
  readonly cycle: number;
}

export interface SubscriptionBook {
  /** null: not known since the last (re)connect; nothing is unsubscribed while unknown. */
  readonly desired: SymbolSet | null;
  readonly acked: SymbolSet;
  readonly inFlight: Readonly<Record<string, InFlight>>;
  readonly pending: Readonly<Record<string, SubAction>>;
}

export const emptyBook: SubscriptionBook = { desired: null, acked: {}, inFlight: {}, pending: {} };

export function toSymbolSet(symbols: Iterable<string>): SymbolSet {
  const out: Record<string, true> = {};
  for (const s of symbols) out[s] = true;
  return out;
}

/** What must still be sent for `sym`, given what is desired, acknowledged and in flight. */
export function neededAction(book: SubscriptionBook, sym: string): SubAction | null {
  if (book.desired === null) return null;
  const want = book.desired[sym] === true;
  const have = book.acked[sym] === true;
  const flying = book.inFlight[sym];
  if (want && !have) return flying?.action === 'subscribe' ? null : 'subscribe';
  if (!want && have) return flying?.action === 'unsubscribe' ? null : 'unsubscribe';
  return null;
}

/** Recompute `pending` for the given symbols only (the hot path: one scanner event, one ack frame). */
export function refreshPending(book: SubscriptionBook, symbols: Iterable<string>): SubscriptionBook {
  let pending: Record<string, SubAction> | null = null;
  for (const s of symbols) {
    const a = neededAction(book, s);
    if (book.pending[s] === a || (a === null && !(s in book.pending))) continue;
    pending ??= { ...book.pending };
    if (a === null) delete pending[s];
    else pending[s] = a;
  }
  return pending ? { ...book, pending } : book;
}

/** Every symbol the book knows of. */
export function allSymbols(book: SubscriptionBook): Set<string> {
  const out = new Set<string>(Object.keys(book.acked));
  if (book.desired) for (const s of Object.keys(book.desired)) out.add(s);
  for (const s of Object.keys(book.inFlight)) out.add(s);
  for (const s of Object.keys(book.pending)) out.add(s);
  return out;
}

export interface Drift {
  /** Desired, not acknowledged, and nothing (fresh) on its way. */
  missing: string[];
  /** Acknowledged, no longer desired, and no (fresh) unsubscribe on its way. */
  extra: string[];
}

/**
 * The drift a reconciliation finds, and the book it leaves: in-flight requests older than the
 * previous cycle are presumed lost (no ack came) and are sent again.
 */
export function reconcileBook(
  book: SubscriptionBook,
  desired: SymbolSet,
  cycle: number,
): { book: SubscriptionBook; drift: Drift } {
  const inFlight: Record<string, InFlight> = {};
  for (const [s, f] of Object.entries(book.inFlight)) if (f.cycle >= cycle - 1) inFlight[s] = f;
  const next: SubscriptionBook = { desired, acked: book.acked, inFlight, pending: {} };
  const drift: Drift = { missing: [], extra: [] };
  const pending: Record<string, SubAction> = {};
  for (const s of allSymbols({ ...next, pending: book.pending, inFlight: book.inFlight })) {
    const a = neededAction(next, s);
    if (a === null) continue;
    pending[s] = a;
    // A request the previous cycle already queued is not drift yet: it is on its way.
    if (book.pending[s] === a && book.desired !== null) continue;
    (a === 'subscribe' ? drift.missing : drift.extra).push(s);
  }
  drift.missing.sort();
  drift.extra.sort();
  return { book: { ...next, pending }, drift };
}

/** Symbols whose desired state and acknowledged state differ: the gap the seeds measure. */
export function gapOf(book: SubscriptionBook): number | null {
  if (book.desired === null) return null;
  let gap = 0;
  for (const s of Object.keys(book.desired)) if (!book.acked[s]) gap++;
  for (const s of Object.keys(book.acked)) if (!book.desired[s]) gap++;
  return gap;
}

/** Keys of a book's record, without building an array of them (the book may hold 10,000). */
export function countOf(set: Readonly<Record<string, unknown>> | null): number {
  let n = 0;
  if (set) for (const _ in set) n++;
  return n;
}
