import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyAcks, hasInFlight, hasPending, takeBatches, type Batch } from '../../src/subscriptions/subscription-batcher.js';
import {
  allSymbols,
  emptyBook,
  gapOf,
  neededAction,
  reconcileBook,
  refreshPending,
  toSymbolSet,
  type SubAction,
  type SubscriptionBook,
  type SymbolSet,
} from '../../src/subscriptions/subscription-book.js';

/** One message's worth of `takeBatches`, preferring `prefer` (the reconciler asks for several at once). */
function takeBatch(book: SubscriptionBook, batchSize: number, cycle: number, prefer: SubAction = 'subscribe'): { batch: Batch | null; book: SubscriptionBook } {
  const lastAction: SubAction = prefer === 'subscribe' ? 'unsubscribe' : 'subscribe';
  const { batches, book: next } = takeBatches(book, { batchSize, messages: 1, room: () => batchSize, lastAction, cycle });
  return { batch: batches[0] ?? null, book: next };
}

// Cutting pending work into upstream messages and applying the upstream's acks, checked case by
// case and then against a model: an upstream that processes messages in order and acknowledges
// every channel, with the SET changing under the reconciler's feet.

function withPending(pending: Record<string, SubAction>, rest: Partial<SubscriptionBook> = {}): SubscriptionBook {
  return { ...emptyBook, desired: {}, ...rest, pending };
}

const keys = (s: object): string[] => Object.keys(s).sort();

describe('hasPending', () => {
  it('is true exactly when something is pending', () => {
    expect(hasPending(emptyBook)).toBe(false);
    expect(hasPending(withPending({ A: 'subscribe' }))).toBe(true);
  });
});

describe('hasInFlight', () => {
  it('is true exactly when something is in flight', () => {
    expect(hasInFlight(emptyBook)).toBe(false);
    expect(hasInFlight({ ...emptyBook, inFlight: { A: { action: 'subscribe', cycle: 1 } } })).toBe(true);
  });
});

describe('takeBatches', () => {
  // Subscribes queued before the unsubscribes, so that a scan that stopped at the wrong list
  // would cut the wrong action.
  const pending: Record<string, SubAction> = { S1: 'subscribe', S2: 'subscribe', S3: 'subscribe', S4: 'subscribe', S5: 'subscribe', U1: 'unsubscribe', U2: 'unsubscribe', U3: 'unsubscribe' };
  const book = () => withPending({ ...pending }, { inFlight: { X: { action: 'subscribe', cycle: 1 } } });

  it('alternates actions, starting with the one not sent last; the window is asked with what is in flight so far', () => {
    const asked: [number, string[]][] = [];
    const input = book();
    const out = takeBatches(input, {
      batchSize: 2,
      messages: 10,
      // A window of 10 channels: more room than a batch until it nearly fills.
      room: (inFlight, p) => (asked.push([inFlight, keys(p)]), 10 - inFlight),
      lastAction: 'subscribe',
      cycle: 4,
    });
    expect(out.batches).toEqual([
      { action: 'unsubscribe', symbols: ['U1', 'U2'] },
      { action: 'subscribe', symbols: ['S1', 'S2'] },
      { action: 'unsubscribe', symbols: ['U3'] },
      { action: 'subscribe', symbols: ['S3', 'S4'] },
      // Nothing left to unsubscribe: the other action rather than nothing.
      { action: 'subscribe', symbols: ['S5'] },
    ]);
    expect(asked.map(([n]) => n)).toEqual([1, 3, 5, 6, 8, 9]);
    expect(asked[1]![1]).toEqual(['S1', 'S2', 'S3', 'S4', 'S5', 'U3']);
    expect(out.book.pending).toEqual({});
    expect(out.book.inFlight).toEqual({ X: { action: 'subscribe', cycle: 1 }, ...Object.fromEntries(Object.entries(pending).map(([s, a]) => [s, { action: a, cycle: 4 }])) });
    // The input is untouched.
    expect(input.pending).toEqual(pending);
    expect(keys(input.inFlight)).toEqual(['X']);
  });

  it('never more channels than the room, nor than a batch; no room, no message and the same book', () => {
    const small = takeBatches(book(), { batchSize: 4, messages: 1, room: () => 3, lastAction: null, cycle: 1 });
    expect(small.batches).toEqual([{ action: 'subscribe', symbols: ['S1', 'S2', 'S3'] }]);
    // Preferring unsubscribes with none within the first room's worth of the scan: still one action per message.
    const unsubFirst = takeBatches(book(), { batchSize: 2, messages: 1, room: () => 5, lastAction: 'subscribe', cycle: 1 });
    expect(unsubFirst.batches).toEqual([{ action: 'unsubscribe', symbols: ['U1', 'U2'] }]);
    const onlySubs = takeBatches(withPending({ A: 'subscribe', B: 'subscribe', C: 'subscribe' }), { batchSize: 2, messages: 1, room: () => 2, lastAction: 'subscribe', cycle: 1 });
    expect(onlySubs.batches).toEqual([{ action: 'subscribe', symbols: ['A', 'B'] }]);
    const input = book();
    const none = takeBatches(input, { batchSize: 2, messages: 5, room: () => 0, lastAction: null, cycle: 1 });
    expect(none.batches).toEqual([]);
    expect(none.book).toBe(input);
  });
});

describe('takeBatch', () => {
  it('prefers the action asked for', () => {
    const out = takeBatch(withPending({ A: 'subscribe', B: 'unsubscribe' }), 10, 1, 'unsubscribe');
    expect(out.batch).toEqual({ action: 'unsubscribe', symbols: ['B'] });
  });

  it('nothing pending: no batch, the same book', () => {
    const b = withPending({});
    const out = takeBatch(b, 10, 1);
    expect(out.batch).toBeNull();
    expect(out.book).toBe(b);
  });

  it('respects the batch size and keeps the rest pending', () => {
    const pending = Object.fromEntries(['A', 'B', 'C', 'D', 'E'].map((s) => [s, 'subscribe' as const]));
    const out = takeBatch(withPending(pending), 2, 7);
    expect(out.batch).toEqual({ action: 'subscribe', symbols: ['A', 'B'] });
    expect(keys(out.book.pending)).toEqual(['C', 'D', 'E']);
    expect(out.book.inFlight).toEqual({ A: { action: 'subscribe', cycle: 7 }, B: { action: 'subscribe', cycle: 7 } });
  });

  it('subscribes first, even when unsubscribes were queued before them', () => {
    const b = withPending({ U1: 'unsubscribe', S1: 'subscribe', U2: 'unsubscribe', S2: 'subscribe' });
    const first = takeBatch(b, 10, 1);
    expect(first.batch).toEqual({ action: 'subscribe', symbols: ['S1', 'S2'] });
    const second = takeBatch(first.book, 10, 1);
    expect(second.batch).toEqual({ action: 'unsubscribe', symbols: ['U1', 'U2'] });
    expect(second.book.pending).toEqual({});
    expect(takeBatch(second.book, 10, 1).batch).toBeNull();
  });

  it('one action per batch, unsubscribes also cut at the batch size', () => {
    const b = withPending({ U1: 'unsubscribe', U2: 'unsubscribe', U3: 'unsubscribe' });
    const out = takeBatch(b, 2, 3);
    expect(out.batch).toEqual({ action: 'unsubscribe', symbols: ['U1', 'U2'] });
    expect(out.book.inFlight).toEqual({ U1: { action: 'unsubscribe', cycle: 3 }, U2: { action: 'unsubscribe', cycle: 3 } });
    expect(out.book.pending).toEqual({ U3: 'unsubscribe' });
  });

  it('overwrites an older in-flight entry of the same symbol and keeps the others', () => {
    const b = withPending({ A: 'subscribe' }, { inFlight: { A: { action: 'unsubscribe', cycle: 1 }, Z: { action: 'subscribe', cycle: 1 } } });
    const out = takeBatch(b, 5, 4);
    expect(out.book.inFlight).toEqual({ A: { action: 'subscribe', cycle: 4 }, Z: { action: 'subscribe', cycle: 1 } });
  });

  it('does not mutate its input', () => {
    const b = withPending({ A: 'subscribe', B: 'unsubscribe' });
    const frozen = JSON.stringify(b);
    takeBatch(b, 1, 1);
    expect(JSON.stringify(b)).toBe(frozen);
  });
});

describe('applyAcks', () => {
  it('no acks: the same book', () => {
    const b = withPending({ A: 'subscribe' });
    expect(applyAcks(b, [], [])).toBe(b);
  });

  it('a subscribe ack marks the symbol acked and settles its subscribe in flight', () => {
    const b = withPending({}, { inFlight: { A: { action: 'subscribe', cycle: 1 }, B: { action: 'subscribe', cycle: 1 } } });
    const out = applyAcks(b, ['A'], []);
    expect(out.acked).toEqual({ A: true });
    expect(out.inFlight).toEqual({ B: { action: 'subscribe', cycle: 1 } });
  });

  it('an unsubscribe ack removes the symbol and settles its unsubscribe in flight', () => {
    const b = withPending({}, { acked: toSymbolSet(['A', 'B']), inFlight: { A: { action: 'unsubscribe', cycle: 1 } } });
    const out = applyAcks(b, [], ['A']);
    expect(out.acked).toEqual({ B: true });
    expect(out.inFlight).toEqual({});
  });

  it('an ack of the other action leaves the request in flight', () => {
    const b = withPending({}, { acked: toSymbolSet(['A']), inFlight: { A: { action: 'unsubscribe', cycle: 1 }, B: { action: 'subscribe', cycle: 1 } } });
    const out = applyAcks(b, ['A'], ['B']);
    expect(out.inFlight).toEqual(b.inFlight);
    expect(out.acked).toEqual({ A: true });
  });

  it('acks for symbols never asked for still count: they are the truth', () => {
    const out = applyAcks(withPending({}), ['NEW'], ['NEVER']);
    expect(out.acked).toEqual({ NEW: true });
  });

  it('does not mutate its input', () => {
    const b = withPending({}, { acked: toSymbolSet(['A']), inFlight: { B: { action: 'subscribe', cycle: 0 } } });
    const frozen = JSON.stringify(b);
    applyAcks(b, ['B'], ['A']);
    expect(JSON.stringify(b)).toBe(frozen);
  });
});

// ---- the model ----------------------------------------------------------------------------------

/** What the machine does with an ack frame: apply, then recompute pending for those symbols. */
function ack(book: SubscriptionBook, batch: Batch): SubscriptionBook {
  const subscribed = batch.action === 'subscribe' ? batch.symbols : [];
  const unsubscribed = batch.action === 'unsubscribe' ? batch.symbols : [];
  return refreshPending(applyAcks(book, subscribed, unsubscribed), batch.symbols);
}

const universe = ['AAPL', 'MSFT', 'NIO', 'TSLA', 'AMD', 'BRK.B', 'F', 'GE'];

describe('model: drain a desired set from an empty book', () => {
  it('property: every batch within size, each symbol sent once, acked ends equal to desired', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[A-Z][A-Z0-9.]{0,5}$/), { maxLength: 120 }),
        fc.integer({ min: 1, max: 25 }),
        fc.boolean(),
        (desiredList, batchSize, viaReconcile) => {
          const desired = toSymbolSet(desiredList);
          let book = viaReconcile
            ? reconcileBook(emptyBook, desired, 1).book
            : refreshPending({ ...emptyBook, desired }, desiredList);
          const sent = new Map<string, number>();
          let batches = 0;
          while (hasPending(book)) {
            const taken = takeBatch(book, batchSize, 1);
            const batch = taken.batch;
            if (!batch) throw new Error('pending but no batch');
            expect(batch.action).toBe('subscribe');
            expect(batch.symbols.length).toBeGreaterThan(0);
            expect(batch.symbols.length).toBeLessThanOrEqual(batchSize);
            for (const s of batch.symbols) sent.set(s, (sent.get(s) ?? 0) + 1);
            book = ack(taken.book, batch);
            batches++;
            if (batches > desiredList.length) throw new Error('does not terminate');
          }
          expect(keys(book.acked)).toEqual([...desiredList].sort());
          expect(book.inFlight).toEqual({});
          expect(gapOf(book)).toBe(0);
          expect([...sent.values()].every((n) => n === 1)).toBe(true);
          expect(sent.size).toBe(desiredList.length);
          expect(batches).toBe(Math.ceil(desiredList.length / batchSize));
        },
      ),
      { numRuns: 300 },
    );
  });
});

type Command =
  | { type: 'hint'; members: Record<string, boolean> }
  | { type: 'take' }
  | { type: 'ack' }
  | { type: 'reconcile' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .dictionary(fc.constantFrom(...universe), fc.boolean(), { minKeys: 1, maxKeys: 4 })
      .map((members): Command => ({ type: 'hint', members })),
  },
  { weight: 3, arbitrary: fc.constant<Command>({ type: 'take' }) },
  { weight: 3, arbitrary: fc.constant<Command>({ type: 'ack' }) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'reconcile' }) },
);

describe('model: random interleavings of SET changes, batches, acks and reconciliations', () => {
  it('property: after draining, acked equals desired equals what the upstream holds', () => {
    fc.assert(
      fc.property(
        fc.subarray(universe),
        fc.array(commandArb, { maxLength: 80 }),
        fc.integer({ min: 1, max: 4 }),
        (initial, commands, batchSize) => {
          let desired: SymbolSet = toSymbolSet(initial);
          let cycle = 1;
          let book = reconcileBook(emptyBook, desired, cycle).book;
          // Sent and not yet acknowledged, oldest first; the upstream applies in order and acks every channel.
          const wire: Batch[] = [];
          const upstream = new Set<string>();

          const send = (): void => {
            const taken = takeBatch(book, batchSize, cycle);
            if (!taken.batch) {
              expect(taken.book).toBe(book);
              return;
            }
            expect(taken.batch.symbols.length).toBeGreaterThan(0);
            expect(taken.batch.symbols.length).toBeLessThanOrEqual(batchSize);
            book = taken.book;
            wire.push(taken.batch);
            for (const s of taken.batch.symbols) {
              if (taken.batch.action === 'subscribe') upstream.add(s);
              else upstream.delete(s);
            }
          };
          const deliver = (): void => {
            const batch = wire.shift();
            if (batch) book = ack(book, batch);
          };

          for (const c of commands) {
            switch (c.type) {
              case 'hint': {
                const next: Record<string, true> = { ...desired };
                for (const [s, member] of Object.entries(c.members)) {
                  if (member) next[s] = true;
                  else delete next[s];
                }
                desired = next;
                book = refreshPending({ ...book, desired }, Object.keys(c.members));
                break;
              }
              case 'take':
                send();
                break;
              case 'ack':
                deliver();
                break;
              case 'reconcile':
                cycle++;
                book = reconcileBook(book, desired, cycle).book;
                break;
            }
            // Invariant: pending is exactly what neededAction says, for every symbol the book knows.
            for (const s of allSymbols(book)) expect(book.pending[s] ?? null).toBe(neededAction(book, s));
          }

          // Drain: send everything pending, then let every ack come back; repeat until quiet.
          for (let round = 0; hasPending(book) || wire.length > 0; round++) {
            if (round > 200) throw new Error('does not converge');
            while (hasPending(book)) send();
            while (wire.length > 0) deliver();
          }
          expect(keys(book.acked)).toEqual(keys(desired));
          expect([...upstream].sort()).toEqual(keys(desired));
          expect(book.inFlight).toEqual({});
          expect(gapOf(book)).toBe(0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
