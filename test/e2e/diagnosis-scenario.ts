import type { Redis } from 'ioredis';
import { ACTIVE_TICKERS_KEY, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import { mulberry32 } from '../../src/shared/prng.js';
import type { PolygonSimulator } from '../../src/simulator/polygon-simulator.js';

// The failure of shared/seeds/diagnosis-lost-subscriptions.es.md, replayed: the upstream closes
// with 1008 every few seconds while a NON-atomic scanner (DEL, then SADD, then EXPIRE) churns
// the SET and publishes events, with symbols leaving and coming back within a cycle, and some
// events lost. Then the SET is changed with no event at all. Whoever keeps the subscription must
// end with the upstream (the simulator's own record) holding exactly the SET.

export interface ScenarioOptions {
  redis: Redis;
  sim: PolygonSimulator;
  seed?: number;
  churnMs?: number;
  stormEveryMs?: number;
  cycleEveryMs?: number;
  /** Called after the storm, before the silent SET change (e.g. wait until the client is live again). */
  afterStorm?: () => Promise<void>;
}

export interface ScenarioReport {
  cycles: number;
  eventsPublished: number;
  eventsDropped: number;
  leaveAndReturn: number;
  closes1008: number;
  finalSet: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function writeSetNonAtomically(redis: Redis, members: readonly string[]): Promise<void> {
  // The original scanner: a reader between DEL and SADD sees no SET at all.
  await redis.del(ACTIVE_TICKERS_KEY);
  await sleep(2);
  if (members.length > 0) await redis.sadd(ACTIVE_TICKERS_KEY, ...members);
  await redis.expire(ACTIVE_TICKERS_KEY, 3600);
}

export async function publishEvent(redis: Redis, symbol: string, action: 'subscribe' | 'unsubscribe'): Promise<void> {
  await redis.xadd(
    SUBSCRIPTIONS_STREAM,
    '*',
    'symbol',
    symbol,
    'action',
    action,
    'source',
    'scanner_auto',
    'session',
    'PRE_MARKET',
    'timestamp',
    new Date().toISOString(),
  );
}

/** The universe of the seeds' day: 47 wanted of a larger market. */
export const UNIVERSE = Array.from({ length: 120 }, (_, i) => `T${String(i).padStart(3, '0')}`);
export const INITIAL = UNIVERSE.slice(0, 47);

export async function runStorm(opts: ScenarioOptions): Promise<ScenarioReport> {
  const { redis, sim } = opts;
  const rnd = mulberry32(opts.seed ?? 7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const report: ScenarioReport = { cycles: 0, eventsPublished: 0, eventsDropped: 0, leaveAndReturn: 0, closes1008: 0, finalSet: [] };
  let current = new Set(INITIAL);

  const publish = async (symbol: string, action: 'subscribe' | 'unsubscribe') => {
    // One event in ten is lost on the way: the SET alone must be enough.
    if (rnd() < 0.1) {
      report.eventsDropped++;
      return;
    }
    report.eventsPublished++;
    await publishEvent(redis, symbol, action);
  };

  sim.setSchedule1008(opts.stormEveryMs ?? 1_500);
  const deadline = Date.now() + (opts.churnMs ?? 8_000);
  while (Date.now() < deadline) {
    const next = new Set(current);
    // A few leave, a few enter.
    for (let i = 0; i < 3; i++) next.delete(pick([...next]));
    while (next.size < INITIAL.length) next.add(pick(UNIVERSE));
    // The seeds' TSLA race: one leaves and comes back before the consumer sees the events.
    const bouncer = pick([...next]);
    const bounce = !current.has(bouncer) ? null : bouncer;

    await writeSetNonAtomically(redis, [...next]);
    for (const s of current) if (!next.has(s)) await publish(s, 'unsubscribe');
    for (const s of next) if (!current.has(s)) await publish(s, 'subscribe');
    if (bounce) {
      report.leaveAndReturn++;
      await publish(bounce, 'unsubscribe');
      await publish(bounce, 'subscribe');
    }
    current = next;
    report.cycles++;
    await sleep(opts.cycleEveryMs ?? 150);
  }
  sim.setSchedule1008(null);
  report.closes1008 = sim.stats().closesByCode['1008'] ?? 0;
  await opts.afterStorm?.();

  // Finally the SET changes with no event at all: only a reader of the SET can follow.
  const final = new Set(current);
  for (const s of [...final].slice(0, 5)) final.delete(s);
  for (const s of UNIVERSE.slice(-5)) final.add(s);
  await redis.multi().del(ACTIVE_TICKERS_KEY).sadd(ACTIVE_TICKERS_KEY, ...final).expire(ACTIVE_TICKERS_KEY, 3600).exec();
  report.finalSet = [...final].sort();
  return report;
}
