import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CATEGORIES, categoryKey, RANKING_DELTAS_STREAM, type Category } from '../../src/shared/redis-keys.js';
import { ListStore } from '../../src/ws-server/list-store.js';
import { RankingSync } from '../../src/ws-server/ranking-sync.js';
import { startTestRedis } from '../helpers/redis.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { captureLog } from './helpers/log.js';

type R = Awaited<ReturnType<typeof startTestRedis>>;

function recorder() {
  const sent: { kind: 'snapshot' | 'delta'; list: Category; body?: unknown }[] = [];
  return {
    sent,
    out: {
      broadcastSnapshot: (list: Category) => (sent.push({ kind: 'snapshot', list }), 1),
      broadcastDelta: (list: Category, frame: Buffer) => (sent.push({ kind: 'delta', list, body: JSON.parse(frame.toString()) }), 1),
    },
  };
}

async function entries(r: R, after = '-'): Promise<[string, string[]][]> {
  return r.client.xrange(RANKING_DELTAS_STREAM, after, '+');
}

describe('RankingSync', () => {
  let r: R;
  beforeAll(async () => {
    r = await startTestRedis();
  });
  afterAll(async () => {
    await r.stop();
  });
  beforeEach(async () => {
    await r.client.flushall();
  });

  it('bootstraps every list with its scanner sequence from the keys and the stream', async () => {
    const scanner = new FakeScanner(r.client, { seed: 3 });
    for (let i = 0; i < 4; i++) await scanner.scan();
    const store = new ListStore();
    const rec = recorder();
    const sync = new RankingSync({ store, redis: r.client, out: rec.out, log: captureLog().log });
    const position = await sync.bootstrap('startup');
    const all = await entries(r);
    expect(position).toBe(all[all.length - 1]?.[0]);
    for (const c of CATEGORIES) {
      expect(store.get(c)).toMatchObject({ known: true, sequence: 4, rows: scanner.lists.get(c) });
    }
    // Every list changed from empty (or became known): each got one snapshot.
    expect(rec.sent.filter((s) => s.kind === 'snapshot').length).toBe(CATEGORIES.length);
    // Then the scanner goes on, and deltas are forwarded as they are.
    await scanner.scan();
    for (const [id, fields] of await entries(r, `(${position}`)) await sync.handleEntry(id, fields);
    expect(rec.sent.filter((s) => s.kind === 'delta').length).toBe(CATEGORIES.length);
    for (const c of CATEGORIES) expect(store.get(c)).toMatchObject({ sequence: 5, rows: scanner.lists.get(c) });
  });

  it('bootstraps from keys alone with an unknown sequence, then resyncs on the first delta', async () => {
    const scanner = new FakeScanner(r.client, { seed: 4 });
    await scanner.scan();
    await r.client.del(RANKING_DELTAS_STREAM);
    const store = new ListStore();
    const rec = recorder();
    const { log, events } = captureLog();
    const sync = new RankingSync({ store, redis: r.client, out: rec.out, log });
    expect(await sync.bootstrap('startup')).toBe('0-0');
    expect(store.get('winners')).toMatchObject({ known: false, rows: scanner.lists.get('winners') });
    rec.sent.length = 0;
    await scanner.scan(['winners']);
    const [[id, fields]] = (await entries(r)) as [[string, string[]]];
    await sync.handleEntry(id, fields);
    expect(rec.sent).toEqual([{ kind: 'snapshot', list: 'winners' }]);
    expect(store.get('winners')).toMatchObject({ known: true, sequence: 2, rows: scanner.lists.get('winners') });
    expect(events()).toContain('ranking_list_resynced');
  });

  it('turns a sequence gap into a snapshot re-read from the key, and skips a duplicate', async () => {
    const scanner = new FakeScanner(r.client, { seed: 5 });
    await scanner.scan(['losers']);
    const store = new ListStore();
    const rec = recorder();
    const { log, lines } = captureLog();
    const sync = new RankingSync({ store, redis: r.client, out: rec.out, log });
    const pos = await sync.bootstrap('startup');
    await scanner.scan(['losers']);
    await scanner.scan(['losers']);
    const [e2, e3] = (await entries(r, `(${pos}`)) as [[string, string[]], [string, string[]]];
    rec.sent.length = 0;
    await sync.handleEntry(...e3); // #3 while the store is at #1
    expect(rec.sent).toEqual([{ kind: 'snapshot', list: 'losers' }]);
    expect(store.get('losers')).toMatchObject({ sequence: 3, rows: scanner.lists.get('losers') });
    expect(lines.find((l) => l.event === 'ranking_list_resynced')).toMatchObject({ expected: 2, got: 3, reason: 'sequence_gap' });
    rec.sent.length = 0;
    await sync.handleEntry(...e3);
    await sync.handleEntry(...e2);
    // #3 again: a duplicate, nothing sent. #2 after #3: a scanner that went back, resynced.
    expect(rec.sent).toEqual([{ kind: 'snapshot', list: 'losers' }]);
    expect(store.get('losers').sequence).toBe(2);
  });

  it('applies a stream snapshot and ignores malformed entries', async () => {
    const scanner = new FakeScanner(r.client, { seed: 6 });
    await scanner.scan(['anomalies']);
    await scanner.publishSnapshot('anomalies');
    await r.client.xadd(RANKING_DELTAS_STREAM, '*', 'data', '{not json');
    await r.client.xadd(RANKING_DELTAS_STREAM, '*', 'other', 'x');
    const store = new ListStore();
    const rec = recorder();
    const { log, events } = captureLog();
    const sync = new RankingSync({ store, redis: r.client, out: rec.out, log });
    for (const [id, fields] of await entries(r)) await sync.handleEntry(id, fields);
    expect(store.get('anomalies')).toMatchObject({ known: true, sequence: 2, rows: scanner.lists.get('anomalies') });
    expect(events()).toEqual(expect.arrayContaining(['ranking_entry_invalid']));
  });

  it('keeps the lists it has when the keys are gone', async () => {
    const scanner = new FakeScanner(r.client, { seed: 7 });
    await scanner.scan();
    const store = new ListStore();
    const sync = new RankingSync({ store, redis: r.client, out: recorder().out, log: captureLog().log });
    await sync.bootstrap('startup');
    await r.client.flushall();
    const rec = recorder();
    const sync2 = new RankingSync({ store, redis: r.client, out: rec.out, log: captureLog().log });
    expect(await sync2.bootstrap('position_lost')).toBe('0-0');
    expect(rec.sent).toEqual([]);
    expect(store.get('gappers_up')).toMatchObject({ known: false, rows: scanner.lists.get('gappers_up') });
    expect(await r.client.exists(categoryKey('gappers_up'))).toBe(0);
  });
});
