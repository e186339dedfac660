import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, StreamFollower, type PositionLoss, type StreamHandler } from '../../src/ws-server/stream-follower.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { captureLog } from './helpers/log.js';

type R = Awaited<ReturnType<typeof startTestRedis>>;

function connections(url: string) {
  const blocking = new Redis(url, { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, retryStrategy: () => 50 });
  const command = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  blocking.on('error', () => undefined);
  command.on('error', () => undefined);
  return { blocking, command };
}

class Recorder implements StreamHandler {
  readonly got: string[] = [];
  readonly losses: PositionLoss[] = [];
  onEntry: ((id: string, fields: string[]) => Promise<void> | void) | null = null;
  constructor(
    readonly stream: string,
    private readonly startAt = '0-0',
  ) {}
  start = async () => this.startAt;
  handle = async (id: string, fields: string[]) => {
    if (this.onEntry) await this.onEntry(id, fields);
    this.got.push(fields[1] ?? '');
  };
  positionLost = async (loss: PositionLoss) => {
    this.losses.push(loss);
    return loss.kind === 'trimmed' ? loss.lastId : '0-0';
  };
}

describe('StreamFollower', () => {
  let r: R;
  let follower: StreamFollower | null = null;
  let conns: ReturnType<typeof connections> | null = null;
  beforeAll(async () => {
    r = await startTestRedis();
  });
  afterAll(async () => {
    await r.stop();
  });
  afterEach(async () => {
    await follower?.stop();
    conns?.command.disconnect();
    follower = null;
    await r.client.flushall();
  });

  function follow(...handlers: StreamHandler[]) {
    conns = connections(r.server.url);
    follower = new StreamFollower({ ...conns, handlers, log: captureLog().log, blockMs: 200 });
    follower.start();
    return follower;
  }

  it('compares ids numerically', () => {
    expect(compareStreamIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareStreamIds('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareStreamIds('5-1', '5-1')).toBe(0);
  });

  it('delivers both streams in order, each entry once, across killed connections', async () => {
    const a = new Recorder('s:a');
    const b = new Recorder('s:b');
    const f = follow(a, b);
    await f.ready;
    const sent: string[] = [];
    for (let i = 0; i < 300; i++) {
      await r.client.xadd('s:a', '*', 'data', `a${i}`);
      await r.client.xadd('s:b', '*', 'data', `b${i}`);
      sent.push(String(i));
      if (i % 60 === 30) await r.client.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    }
    await eventually(() => a.got.length >= 300 && b.got.length >= 300, 'all entries');
    expect(a.got).toEqual(sent.map((i) => `a${i}`));
    expect(b.got).toEqual(sent.map((i) => `b${i}`));
    expect(a.losses).toEqual([]);
    expect(f.positions()['s:a']?.entries).toBe(300);
  });

  it('ends each read with endOfRead, after all of its entries: a transaction comes as one read', async () => {
    const a = new Recorder('s:a');
    const marks: string[][] = [];
    let read: string[] = [];
    a.onEntry = (_id, fields) => {
      read.push(fields[1] ?? '');
    };
    const handler: StreamHandler = Object.assign(a, {
      endOfRead: () => {
        marks.push(read);
        read = [];
      },
    });
    follow(handler);
    await r.client.multi().xadd('s:a', '*', 'data', 'a').xadd('s:a', '*', 'data', 'b').xadd('s:a', '*', 'data', 'c').exec();
    await eventually(() => marks.length === 1, 'one read');
    await r.client.multi().xadd('s:a', '*', 'data', 'd').xadd('s:a', '*', 'data', 'e').exec();
    await eventually(() => marks.length === 2, 'a second read');
    expect(marks).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });

  it('retries an entry whose handling failed, then goes on', async () => {
    const a = new Recorder('s:a');
    let fails = 2;
    a.onEntry = () => {
      if (fails-- > 0) throw new Error('redis went away');
    };
    follow(a);
    await r.client.xadd('s:a', '*', 'data', 'x');
    await r.client.xadd('s:a', '*', 'data', 'y');
    await eventually(() => a.got.length === 2, 'both entries');
    expect(a.got).toEqual(['x', 'y']);
  });

  const mutations: [PositionLoss['kind'], (c: Redis) => Promise<void>][] = [
    [
      'trimmed',
      async (c) => {
        await c.xtrim('s:a', 'MAXLEN', 0);
        await c.xadd('s:a', '*', 'data', 'after');
      },
    ],
    [
      'stream_empty',
      async (c) => {
        await c.del('s:a');
      },
    ],
    [
      'stream_reset',
      async (c) => {
        await c.del('s:a');
        await c.xadd('s:a', '1-1', 'data', 'old');
      },
    ],
  ];
  it.each(mutations)('asks the handler where to resume when the position is %s', async (kind, mutate) => {
    const a = new Recorder('s:a');
    await r.client.xadd('s:a', '*', 'data', 'first');
    const f = follow(a);
    await eventually(() => a.got.length === 1, 'first entry');
    let once = true;
    a.onEntry = async () => {
      if (!once) return;
      once = false;
      await mutate(r.client);
      throw new Error('connection lost');
    };
    await r.client.xadd('s:a', '*', 'data', 'second');
    await eventually(() => a.losses.length === 1, 'position loss');
    expect(a.losses[0]?.kind).toBe(kind);
    if (kind === 'trimmed') await eventually(() => a.got.includes('after'), 'entry after the trim');
    await eventually(() => f.state === 'live', 'live again');
  });

  it('survives a Redis restart that loses everything, then reads what comes', async () => {
    const a = new Recorder('s:a');
    const f = follow(a);
    await f.ready;
    await r.client.xadd('s:a', '*', 'data', 'before');
    await eventually(() => a.got.length === 1, 'first');
    await r.server.restart();
    await eventually(() => a.losses.length === 1 && f.state === 'live', 'position loss after restart');
    await eventually(async () => (await r.client.xadd('s:a', '*', 'data', 'after')) !== null, 'write after restart');
    await eventually(() => a.got.includes('after'), 'entry after restart');
    expect(a.got.filter((x) => x === 'before')).toHaveLength(1);
  });
});
