import { describe, expect, it } from 'vitest';
import type { Category } from '../../src/shared/redis-keys.js';
import { AggregateRouter } from '../../src/ws-server/aggregate-router.js';

describe('AggregateRouter', () => {
  it('delivers once per client watching any list that holds the symbol, and to nobody else', () => {
    const a = { id: 'a', aggStamp: 0 };
    const b = { id: 'b', aggStamp: 0 };
    const c = { id: 'c', aggStamp: 0 };
    const index = new Map<string, Category[]>([
      ['AA', ['winners', 'gappers_up']],
      ['BB', ['losers']],
    ]);
    const subs = new Map<Category, (typeof a)[]>([
      ['winners', [a, b]],
      ['gappers_up', [a, c]],
      ['losers', []],
    ]);
    const r = new AggregateRouter((s) => index.get(s), (l) => subs.get(l));
    const got: string[] = [];
    expect(r.route('AA', (x) => (got.push(x.id), true))).toBe(3);
    expect(got.sort()).toEqual(['a', 'b', 'c']);
    got.length = 0;
    expect(r.route('AA', (x) => (got.push(x.id), true))).toBe(3);
    expect(got.sort()).toEqual(['a', 'b', 'c']);
    expect(r.route('BB', () => true)).toBe(0);
    expect(r.route('ZZ', () => true)).toBe(0);
    expect(r.route('AA', (x) => x.id !== 'b')).toBe(2);
  });
});
