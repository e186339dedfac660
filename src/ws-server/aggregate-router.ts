import type { Category } from '../shared/redis-keys.js';

// Routes one live price to the clients that watch it: those subscribed to at least one list that
// holds the symbol now (symbolToLists), each once however many of its lists hold it. A stamp per
// route call marks who already got it, so deduplication allocates nothing per aggregate.

export interface Stamped {
  aggStamp: number;
}

export class AggregateRouter<C extends Stamped> {
  private stamp = 0;

  constructor(
    private readonly listsOf: (symbol: string) => Iterable<Category> | undefined,
    private readonly subscribersOf: (list: Category) => Iterable<C> | undefined,
  ) {}

  /** Calls `deliver` once per watching client; returns how many were delivered to. */
  route(symbol: string, deliver: (client: C) => boolean): number {
    const lists = this.listsOf(symbol);
    if (!lists) return 0;
    const stamp = ++this.stamp;
    let n = 0;
    for (const list of lists) {
      const subs = this.subscribersOf(list);
      if (!subs) continue;
      for (const c of subs) {
        if (c.aggStamp === stamp) continue;
        c.aggStamp = stamp;
        if (deliver(c)) n++;
      }
    }
    return n;
  }
}
