import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryFromPersisted, type ScannerMemory } from '../../../src/scanner/cycle-plan.js';
import type { RankingMessage } from '../../../src/scanner/deltas.js';
import { ACTIVE_TICKERS_TEMP_KEY, createCyclePublisher, CyclePublishError } from '../../../src/services/scanner/cycle-publisher.js';
import { SEQUENCES_KEY } from '../../../src/services/scanner/sequence-store.js';
import {
  ACTIVE_TICKERS_KEY,
  CATEGORIES,
  RANKING_DELTAS_STREAM,
  SUBSCRIPTIONS_STREAM,
  categoryKey,
  serviceStatusKey,
} from '../../../src/shared/redis-keys.js';
import { startTestRedis } from '../../helpers/redis.js';
import { plan, symbolsOf, taggedLists } from './plans.js';

let redis: Awaited<ReturnType<typeof startTestRedis>>;
let reader: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  reader = redis.client.duplicate();
});
afterAll(async () => {
  reader.disconnect();
  await redis.stop();
});
beforeEach(async () => {
  await redis.client.flushall();
});

const fresh = (): ScannerMemory => memoryFromPersisted({ sequences: {}, active: [] });

describe('cycle publisher', () => {
  it('writes the four outputs of a scan, the sequences and the status', async () => {
    const publisher = createCyclePublisher({ redis: redis.client, statusFields: { interval_ms: 10_000 } });
    const p = plan(fresh(), taggedLists(['AAPL', 'TSLA', 'NVDA'], 1));
    await publisher.publish(p, { cycle: 1, durationMs: 123 });
    const c = redis.client;

    for (const cat of CATEGORIES) expect(JSON.parse((await c.get(categoryKey(cat)))!)).toEqual(p.lists[cat]);
    expect((await c.smembers(ACTIVE_TICKERS_KEY)).sort()).toEqual(['AAPL', 'NVDA', 'TSLA']);
    const ttl = await c.ttl(ACTIVE_TICKERS_KEY);
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(await c.exists(ACTIVE_TICKERS_TEMP_KEY)).toBe(0);

    const ranking = await c.xrange(RANKING_DELTAS_STREAM, '-', '+');
    expect(ranking).toHaveLength(11);
    const messages = ranking.map(([, f]) => {
      expect(f[0]).toBe('data');
      return JSON.parse(f[1]!) as RankingMessage;
    });
    expect(messages).toEqual(p.messages);

    const subs = await c.xrange(SUBSCRIPTIONS_STREAM, '-', '+');
    expect(subs.map(([, f]) => f)).toEqual(
      ['AAPL', 'NVDA', 'TSLA'].map((s) => ['symbol', s, 'action', 'subscribe', 'source', 'scanner_auto', 'session', 'MARKET_OPEN', 'timestamp', '2025-11-25T16:00:00.000Z']),
    );

    expect(await c.hgetall(SEQUENCES_KEY)).toEqual(Object.fromEntries(CATEGORIES.map((cat) => [cat, '1'])));
    const status = JSON.parse((await c.get(serviceStatusKey('scanner')))!);
    expect(status).toMatchObject({ role: 'scanner', state: 'running', cycle: 1, duration_ms: 123, active_tickers: 3, interval_ms: 10_000 });
    expect(await c.ttl(serviceStatusKey('scanner'))).toBeGreaterThan(0);
  });

  it('replaces the SET atomically: a concurrent reader never sees it missing, half written, or out of step with the lists', async () => {
    const publisher = createCyclePublisher({ redis: redis.client });
    // Two disjoint universes, alternating: any mix or gap would show.
    const universes = [symbolsOf('X', 150), symbolsOf('Y', 150)];
    const expected = universes.map((u) => [...u].sort().join(','));
    let memory = fresh();
    const first = plan(memory, taggedLists(universes[0]!, 0));
    await publisher.publish(first, { cycle: 0, durationMs: 0 });
    memory = first.next;

    let done = false;
    const seenSets = new Set<string>();
    let reads = 0;
    const problems: string[] = [];
    const hammer = (async () => {
      while (!done) {
        const [exists, members] = await Promise.all([reader.exists(ACTIVE_TICKERS_KEY), reader.smembers(ACTIVE_TICKERS_KEY)]);
        const key = members.sort().join(',');
        if (exists !== 1) problems.push('SET missing');
        if (!expected.includes(key)) problems.push(`SET with ${members.length} members of no single scan`);
        seenSets.add(key);
        reads++;
      }
    })();
    const consistency = (async () => {
      while (!done) {
        const tx = reader.multi();
        for (const c of CATEGORIES) tx.get(categoryKey(c));
        tx.smembers(ACTIVE_TICKERS_KEY);
        const replies = (await tx.exec())!;
        const lists = replies.slice(0, CATEGORIES.length).map(([, v]) => JSON.parse(v as string) as { symbol: string; price: number }[]);
        const set = (replies[CATEGORIES.length]![1] as string[]).sort().join(',');
        const tags = new Set(lists.flat().map((r) => r.price));
        const union = [...new Set(lists.flat().map((r) => r.symbol))].sort().join(',');
        if (tags.size !== 1) problems.push(`lists of ${tags.size} different scans side by side`);
        if (union !== set) problems.push('SET out of step with the lists');
      }
    })();

    for (let i = 1; i <= 150; i++) {
      const p = plan(memory, taggedLists(universes[i % 2]!, i));
      await publisher.publish(p, { cycle: i, durationMs: 0 });
      memory = p.next;
    }
    done = true;
    await Promise.all([hammer, consistency]);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(reads).toBeGreaterThan(20);
    expect(seenSets.size).toBe(2); // the reader really did see both scans
  });

  it('a scan with no relevant symbol removes the SET (Redis has no empty set)', async () => {
    const publisher = createCyclePublisher({ redis: redis.client });
    const p1 = plan(fresh(), taggedLists(['AAPL'], 1));
    await publisher.publish(p1, { cycle: 1, durationMs: 0 });
    const p2 = plan(p1.next, taggedLists([], 2));
    await publisher.publish(p2, { cycle: 2, durationMs: 0 });
    expect(await redis.client.exists(ACTIVE_TICKERS_KEY)).toBe(0);
    expect(p2.events.map((e) => `${e.action} ${e.symbol}`)).toEqual(['unsubscribe AAPL']);
    expect(JSON.parse((await redis.client.get(categoryKey('winners')))!)).toEqual([]);
  });

  it('writes nothing when a key has the wrong type, and says which', async () => {
    const publisher = createCyclePublisher({ redis: redis.client });
    const p1 = plan(fresh(), taggedLists(['AAPL'], 1));
    await publisher.publish(p1, { cycle: 1, durationMs: 0 });
    const before = await redis.client.get(categoryKey('gappers_up'));
    await redis.client.del(SUBSCRIPTIONS_STREAM);
    await redis.client.hset(SUBSCRIPTIONS_STREAM, 'oops', '1');

    const p2 = plan(p1.next, taggedLists(['TSLA'], 2));
    await expect(publisher.publish(p2, { cycle: 2, durationMs: 0 })).rejects.toThrow(CyclePublishError);
    await expect(publisher.publish(p2, { cycle: 2, durationMs: 0 })).rejects.toThrow(/polygon_ws:subscriptions holds a hash/);
    expect(await redis.client.get(categoryKey('gappers_up'))).toBe(before);
    expect(await redis.client.smembers(ACTIVE_TICKERS_KEY)).toEqual(['AAPL']);
    expect(await redis.client.hget(SEQUENCES_KEY, 'winners')).toBe('1');
    expect(await redis.client.xlen(RANKING_DELTAS_STREAM)).toBe(11);
  });

  it('bounds the ranking stream', async () => {
    const publisher = createCyclePublisher({ redis: redis.client, rankingMaxLen: 50 });
    let memory = fresh();
    for (let i = 0; i < 40; i++) {
      const p = plan(memory, taggedLists(['AAPL'], i));
      await publisher.publish(p, { cycle: i, durationMs: 0 });
      memory = p.next;
    }
    // MAXLEN ~ trims by whole nodes: bounded, not exact.
    expect(await redis.client.xlen(RANKING_DELTAS_STREAM)).toBeLessThan(440);
  });

  it('reports a failing scanner in its status', async () => {
    const publisher = createCyclePublisher({ redis: redis.client });
    await publisher.publishFailure({ stage: 'fetch', message: 'market source did not answer', attempt: 3, retryInMs: 4000 });
    const status = JSON.parse((await redis.client.get(serviceStatusKey('scanner')))!);
    expect(status).toMatchObject({ role: 'scanner', state: 'failing', failed_stage: 'fetch', attempt: 3, retry_in_ms: 4000 });
  });
});
