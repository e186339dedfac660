import { describe, expect, it } from 'vitest';
import { apiKeyId, createLeaderLease, FencedOut } from '../../src/services/leader-lease.js';
import { leaderLeaseKey } from '../../src/shared/redis-keys.js';
import { useTestRedis } from '../helpers/redis.js';

describe('leader lease on a real Redis', () => {
  const redis = useTestRedis();
  const client = () => redis.current.client;

  const make = (instanceId: string, ttlMs = 5_000) => createLeaderLease({ redis: client(), apiKey: 'the-api-key', instanceId, ttlMs });

  it('one holder at a time; tokens only grow; the key is named by a hash, never the API key', async () => {
    const a = make('a');
    const b = make('b');
    const ta = await a.acquire();
    expect(ta).toBeGreaterThan(0);
    expect(await b.acquire()).toBe(0);
    expect(await client().keys('*the-api-key*')).toEqual([]);
    expect(await client().get(leaderLeaseKey(apiKeyId('the-api-key')))).toBe(`a:${ta}`);
    await a.release(ta);
    const tb = await b.acquire();
    expect(tb).toBeGreaterThan(ta);
    expect(await a.renew(ta)).toBe(false);
    expect(await b.renew(tb)).toBe(true);
  });

  it('an expired lease can be taken, and the old holder can neither renew nor write', async () => {
    const a = make('a', 200);
    const b = make('b', 5_000);
    const ta = await a.acquire();
    await a.fenced(client(), ta, [['SET', 'probe', 'from-a']]);
    expect(await client().get('probe')).toBe('from-a');
    await new Promise((res) => setTimeout(res, 400));
    const tb = await b.acquire();
    expect(tb).toBeGreaterThan(ta);
    expect(await a.renew(ta)).toBe(false);
    await expect(a.fenced(client(), ta, [['SET', 'probe', 'late-a']])).rejects.toBeInstanceOf(FencedOut);
    expect(await client().get('probe')).toBe('from-a');
    await b.fenced(client(), tb, [['SET', 'probe', 'from-b'], ['XADD', 's', '*', 'data', '{}']]);
    expect(await client().get('probe')).toBe('from-b');
    expect(await client().xlen('s')).toBe(1);
  });
});
