import { describe, expect, it } from 'vitest';
import { apiKeyId, createLeaderLease, FencedOut } from '../../src/services/leader-lease.js';
import { leaderLeaseKey } from '../../src/shared/redis-keys.js';
import { useTestRedis } from '../helpers/redis.js';

describe('leader lease on a real Redis', () => {
  const redis = useTestRedis();
  const client = () => redis.current.client;
  const make = (instanceId: string, ttlMs = 5_000) =>
    createLeaderLease({ redis: client(), apiKey: 'the-api-key', instanceId, ttlMs, safetyMs: Math.floor(ttlMs / 4) });
  const take = async (l: ReturnType<typeof make>) => (await l.acquire()).value;

  it('one holder at a time; tokens only grow; the key is named by a hash, never the API key', async () => {
    const a = make('a');
    const b = make('b');
    const ta = await take(a);
    expect(ta).toBeGreaterThan(0);
    expect(await take(b)).toBe(0);
    expect(await client().keys('*the-api-key*')).toEqual([]);
    expect(await client().get(leaderLeaseKey(apiKeyId('the-api-key')))).toBe(`a:${ta}`);
    await a.release(ta);
    const tb = await take(b);
    expect(tb).toBeGreaterThan(ta);
    expect((await a.renew(ta)).value).toBe(0);
    const renewed = await b.renew(tb);
    expect(renewed.value).toBe(1);
    // Safe for ttl − safety, less the call's round trip.
    expect(renewed.validForMs).toBeGreaterThan(0);
    expect(renewed.validForMs).toBeLessThanOrEqual(5_000 - 1_250);
  });

  it('a holder asking again (a lost reply, a resent command) gets its own lease back', async () => {
    const a = make('a');
    const first = await take(a);
    expect(await take(a)).toBe(first);
    expect(await take(make('b'))).toBe(0);
  });

  it('an expired lease can be taken, and the old holder can neither renew nor write', async () => {
    const a = make('a', 200);
    const b = make('b', 5_000);
    const ta = await take(a);
    await a.fenced(client(), ta, [['SET', 'probe', 'from-a']]);
    expect(await client().get('probe')).toBe('from-a');
    await new Promise((res) => setTimeout(res, 400));
    const tb = await take(b);
    expect(tb).toBeGreaterThan(ta);
    expect((await a.renew(ta)).value).toBe(0);
    await expect(a.fenced(client(), ta, [['SET', 'probe', 'late-a']])).rejects.toBeInstanceOf(FencedOut);
    expect(await client().get('probe')).toBe('from-a');
    await b.fenced(client(), tb, [['SET', 'probe', 'from-b'], ['XADD', 's', '*', 'data', '{}']]);
    expect(await client().get('probe')).toBe('from-b');
    expect(await client().xlen('s')).toBe(1);
  });

  it('a frame of 20,000 fenced writes goes through', async () => {
    const a = make('a');
    const ta = await take(a);
    const commands = Array.from({ length: 20_000 }, (_, i) => ['XADD', 'big', '*', 'data', `{"i":${i}}`]);
    await a.fenced(client(), ta, commands);
    expect(await client().xlen('big')).toBe(20_000);
  });
});
