import { describe, expect, it } from 'vitest';
import { memoryFromPersisted } from '../../../src/scanner/cycle-plan.js';
import { createCyclePublisher } from '../../../src/services/scanner/cycle-publisher.js';
import { loadScannerState, SEQUENCES_KEY } from '../../../src/services/scanner/sequence-store.js';
import { CATEGORIES, RANKING_DELTAS_STREAM } from '../../../src/shared/redis-keys.js';
import { useTestRedis } from '../../helpers/redis.js';
import { plan, taggedLists } from './plans.js';

const testRedis = useTestRedis();
const redis = {
  get client() {
    return testRedis.current.client;
  },
};

async function publishScans(n: number) {
  const publisher = createCyclePublisher({ redis: redis.client });
  let memory = memoryFromPersisted(await loadScannerState(redis.client));
  for (let i = 0; i < n; i++) {
    const p = plan(memory, taggedLists(['AAPL', 'TSLA', i % 2 ? 'NIO' : 'GOOG'], i));
    await publisher.publish(p, { cycle: i + 1, durationMs: 0 });
    memory = p.next;
  }
}

describe('sequence store', () => {
  it('an empty Redis: no sequences, no SET', async () => {
    expect(await loadScannerState(redis.client)).toEqual({ sequences: {}, active: [] });
  });

  it('reads back the sequences and the SET the last scan wrote', async () => {
    await publishScans(3);
    const state = await loadScannerState(redis.client);
    expect(state.sequences).toEqual(Object.fromEntries(CATEGORIES.map((c) => [c, 3])));
    expect([...state.active].sort()).toEqual(['AAPL', 'GOOG', 'TSLA']);
  });

  it('sequences continue across a restart, each list starting with a snapshot', async () => {
    await publishScans(4);
    // A new process: state from Redis only.
    await publishScans(2);
    const entries = await redis.client.xrange(RANKING_DELTAS_STREAM, '-', '+');
    const byList = new Map<string, { type: string; sequence: number }[]>();
    for (const [, f] of entries) {
      const m = JSON.parse(f[1]!) as { list: string; type: string; sequence: number };
      byList.set(m.list, [...(byList.get(m.list) ?? []), m]);
    }
    for (const c of CATEGORIES) {
      const msgs = byList.get(c)!;
      expect(msgs.map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(msgs[4]!.type).toBe('snapshot');
    }
  });

  it('falls back to the ranking stream when the hash is gone, and never goes back', async () => {
    await publishScans(5);
    await redis.client.del(SEQUENCES_KEY);
    expect((await loadScannerState(redis.client)).sequences.winners).toBe(5);
    // A hash behind the stream (restored from an old backup): the larger wins.
    await redis.client.hset(SEQUENCES_KEY, 'winners', '2');
    expect((await loadScannerState(redis.client)).sequences.winners).toBe(5);
  });

  it('ignores foreign or broken entries in the hash and the stream', async () => {
    await redis.client.hset(SEQUENCES_KEY, 'winners', 'not a number', 'nonsense', '7', 'losers', '12');
    await redis.client.xadd(RANKING_DELTAS_STREAM, '*', 'data', '{broken');
    await redis.client.xadd(RANKING_DELTAS_STREAM, '*', 'data', JSON.stringify({ list: 'winners', sequence: 9, type: 'delta' }));
    expect((await loadScannerState(redis.client)).sequences).toEqual({ losers: 12, winners: 9 });
  });
});
