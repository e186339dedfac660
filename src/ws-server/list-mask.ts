import { CATEGORIES, type Category } from '../shared/redis-keys.js';

// A set of lists as a number, one bit per CATEGORIES index: what a client is subscribed to and
// which lists hold a symbol, so "does this client watch this price" is one AND.

const LIST_BIT = new Map<Category, number>(CATEGORIES.map((c, i) => [c, 1 << i]));

export function listBit(list: Category): number {
  return LIST_BIT.get(list) ?? 0;
}

export function maskOf(lists: Iterable<Category>): number {
  let m = 0;
  for (const l of lists) m |= listBit(l);
  return m;
}

export function listsOfMask(mask: number): Category[] {
  return CATEGORIES.filter((l) => (mask & listBit(l)) !== 0);
}

export function popcount(n: number): number {
  let k = 0;
  for (let x = n; x; x &= x - 1) k++;
  return k;
}
