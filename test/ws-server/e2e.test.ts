import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGGREGATES_STREAM, CATEGORIES, STREAM_DATA_FIELD, type Category } from '../../src/shared/redis-keys.js';
import type { WsServerHandle } from '../../src/roles/ws-server.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { ListClient } from './helpers/list-client.js';
import { captureLog } from './helpers/log.js';
import { startTestWsServer } from './helpers/ws-server.js';

// End to end on a real Redis: a scanner writes keys and deltas, the ws-server fans them out,
// clients rebuild the lists. Through a Redis restart (all data lost) and a client reconnect,
// every client must hold exactly the scanner's lists, in rank order, having seen every delta
// numbered previous+1, and each live price of a symbol it watches exactly once.

const SUBSET: Category[] = ['gappers_up', 'winners', 'losers', 'reversals'];

describe('ws-server end to end', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let server: WsServerHandle;
  let scanner: FakeScanner;
  const captured = captureLog('info');
  const clients: ListClient[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    scanner = new FakeScanner(redis.client, { seed: 2024, maxLen: 200 });
    await scanner.scan();
    await scanner.scan();
    server = await startTestWsServer(redis.server.url, captured.log);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    await redis.stop();
  });

  const wsUrl = () => `${server.url.replace('http', 'ws')}/ws`;
  async function client(lists: readonly Category[]): Promise<ListClient> {
    const c = await ListClient.connect(wsUrl());
    c.subscribe(lists);
    clients.push(c);
    return c;
  }

  function watched(lists: readonly Category[]): Set<string> {
    const out = new Set<string>();
    for (const l of lists) for (const r of scanner.lists.get(l) ?? []) out.add(r.symbol);
    return out;
  }

  async function converged(c: ListClient, lists: readonly Category[], what: string): Promise<void> {
    await eventually(
      () => lists.every((l) => JSON.stringify(c.rows(l)) === JSON.stringify(scanner.lists.get(l))),
      `${what}: lists equal to the scanner's`,
    );
  }

  /** Publish prices for a mix of watched and unwatched symbols; each client must get exactly its own. */
  async function pricesRound(round: number, subs: [ListClient, readonly Category[]][]): Promise<void> {
    const marker = [...watched(SUBSET)][0];
    if (!marker) return;
    const before = subs.map(([c]) => c.aggregates.length);
    const symbols = ['AX', 'BZ', 'QQ', 'ZZZZ', ...[...scanner.symbols()].slice(0, 12)];
    const t = 1_700_000_000_000 + round * 1000;
    for (const sym of symbols) {
      const ev = { ev: 'A', sym, v: 10, av: 100, op: 1, vw: 1, o: 1, c: round + 0.25, h: 2, l: 0.5, a: 1, z: 1, s: t - 1000, e: t };
      await redis.client.xadd(AGGREGATES_STREAM, 'MAXLEN', '~', 1000, '*', STREAM_DATA_FIELD, JSON.stringify(ev));
    }
    const end = { ev: 'A', sym: marker, v: 1, o: 1, c: -round, h: 1, l: 1, s: t, e: t + 1 };
    await redis.client.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify(end));
    for (const [i, [c, lists]] of subs.entries()) {
      await eventually(() => c.aggregates.some((a) => a.price === -round), `price marker ${round}`);
      const got = c.aggregates.slice(before[i]).filter((a) => a.price !== -round).map((a) => a.symbol);
      const want = symbols.filter((s) => watched(lists).has(s));
      expect(got).toEqual(want);
    }
  }

  it('keeps every client equal to the scanner across a Redis restart and a reconnect', async () => {
    const all = await client(CATEGORIES);
    const some = await client(SUBSET);
    let late = await client(CATEGORIES);
    await converged(all, CATEGORIES, 'bootstrap');
    await converged(some, SUBSET, 'bootstrap, subset');

    for (let scan = 1; scan <= 30; scan++) {
      if (scan === 10) {
        await redis.server.restart();
      }
      await eventually(async () => {
        try {
          await scanner.scan();
          return true;
        } catch {
          return false;
        }
      }, `scan ${scan}`);
      if (scan === 20) {
        await late.close();
        late = await client(CATEGORIES);
      }
      await converged(all, CATEGORIES, `scan ${scan}`);
      await converged(some, SUBSET, `scan ${scan}, subset`);
      await converged(late, CATEGORIES, `scan ${scan}, late`);
      if (scan % 5 === 0) {
        await pricesRound(scan, [
          [all, CATEGORIES],
          [some, SUBSET],
          [late, CATEGORIES],
        ]);
      }
    }

    for (const c of clients) expect(c.violations).toEqual([]);
    // Deltas carry the run; snapshots come at subscribe and once per list after the restart.
    expect(all.deltas).toBeGreaterThan(all.snapshots * 5);
    expect(all.snapshots).toBeLessThanOrEqual(CATEGORIES.length * 3);
    expect(captured.events()).toContain('stream_position_lost');
    const health = (await (await fetch(`${server.url}/health`)).json()) as { clients: number; state: string };
    expect(health).toMatchObject({ state: 'live', clients: 3 });
  });
});
