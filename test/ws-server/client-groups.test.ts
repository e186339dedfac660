import { describe, expect, it } from 'vitest';
import { ClientGroups } from '../../src/ws-server/client-groups.js';

const client = () => ({ lists: 0, batch: false });

describe('ClientGroups', () => {
  it('groups clients by their set of lists and mode, and forgets empty groups', () => {
    const g = new ClientGroups<ReturnType<typeof client>>();
    const a = client();
    const b = client();
    const c = client();
    g.set(a, 0b011, true);
    g.set(b, 0b011, true);
    g.set(c, 0b011, false);
    expect(g.size).toBe(1);
    const [only] = [...g.values()];
    expect(only?.mask).toBe(0b011);
    expect([...(only?.batched ?? [])]).toEqual([a, b]);
    expect([...(only?.single ?? [])]).toEqual([c]);

    g.set(b, 0b100, true);
    expect(g.size).toBe(2);
    expect(b).toEqual({ lists: 0b100, batch: true });
    g.set(a, 0b011, false);
    expect([...(g.values().next().value?.single ?? [])]).toEqual([c, a]);

    g.set(a, 0, false);
    g.set(c, 0, false);
    g.set(b, 0, true);
    expect(g.size).toBe(0);
    expect(a.lists).toBe(0);
  });
});
