// Clients grouped by what they receive live prices for: their set of lists (a list mask) and
// whether they asked for batches. A tick's prices are selected once per group, and a batch is
// encoded once per group, so thousands of dashboards watching the same lists share the same
// bytes. A client with no list is in no group.

export interface Grouped {
  /** Subscribed lists (list-mask.ts). */
  lists: number;
  batch: boolean;
}

export interface ClientGroup<C> {
  readonly mask: number;
  readonly batched: Set<C>;
  readonly single: Set<C>;
}

export class ClientGroups<C extends Grouped> {
  private readonly groups = new Map<number, ClientGroup<C>>();

  /** Set a client's lists and mode, moving it between groups. */
  set(c: C, lists: number, batch: boolean): void {
    if (c.lists === lists && c.batch === batch) return;
    this.remove(c);
    c.lists = lists;
    c.batch = batch;
    if (lists === 0) return;
    let g = this.groups.get(lists);
    if (!g) {
      g = { mask: lists, batched: new Set(), single: new Set() };
      this.groups.set(lists, g);
    }
    (batch ? g.batched : g.single).add(c);
  }

  private remove(c: C): void {
    const g = this.groups.get(c.lists);
    if (!g) return;
    (c.batch ? g.batched : g.single).delete(c);
    if (g.batched.size === 0 && g.single.size === 0) this.groups.delete(c.lists);
  }

  get size(): number {
    return this.groups.size;
  }

  values(): IterableIterator<ClientGroup<C>> {
    return this.groups.values();
  }
}
