// polygon-ws figures, against a real redis-server and the Polygon simulator on loopback:
//  1. scanner write → upstream subscribe latency (SADD + XADD in one MULTI, as our scanner
//     writes, until the simulator acknowledges the channel): p50 / p99;
//  2. time to resubscribe N tickers after a reconnect (from auth_success on the new connection
//     until the simulator holds all N), default pacing (SUBSCRIBE_BATCH_SIZE, SUBSCRIBE_PACE_MS);
//  3. time to heal a lost event (SET changed, no event) with RECONCILE_INTERVAL_MS = 5000.
// Run: npm run bench -- polygon-ws
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/env.js';
import { startPolygonWs } from '../src/roles/polygon-ws.js';
import { startEmbeddedRedis } from '../src/services/embedded-redis.js';
import { createLogger } from '../src/shared/logger.js';
import { ACTIVE_TICKERS_KEY, SUBSCRIPTIONS_STREAM } from '../src/shared/redis-keys.js';
import { startPolygonSimulator } from '../src/simulator/polygon-simulator.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const median = (xs: number[]) => pct(xs, 50);

async function until(check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(1);
  }
}

async function main() {
  const redisServer = await startEmbeddedRedis();
  const redis = new Redis(redisServer.url);
  const sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
  const config = loadConfig({
    POLYGON_WS_URL: sim.url,
    POLYGON_API_KEY: 'sim-key',
    RECONCILE_INTERVAL_MS: '5000',
    LOG_LEVEL: 'silent',
  });
  // A short stable period, so that every round starts at the normal pace instead of inheriting
  // the previous round's 1008 slow-down (which the service applies on purpose).
  const role = await startPolygonWs({
    config,
    redisUrl: redisServer.url,
    log: createLogger({ level: 'silent' }),
    httpPort: 0,
    connection: { stableAfterMs: 2_000 },
  });
  await until(() => role.view.status().state === 'live');
  console.log(`config: batch ${config.SUBSCRIBE_BATCH_SIZE} channels/message, pace ${config.SUBSCRIBE_PACE_MS} ms, reconcile every ${config.RECONCILE_INTERVAL_MS} ms`);

  // 1. write → subscribe latency, as the scanner writes: a cycle's SET change and its events in
  //    one MULTI, a few new symbols per cycle, cycles further apart than the pace.
  const acked = new Map<string, number>();
  sim.on('subscribed', (_c, symbols, at) => symbols.forEach((s) => acked.set(s, at)));
  const lat: number[] = [];
  for (let cycle = 0; cycle < 60; cycle++) {
    const syms = Array.from({ length: 5 }, (_, i) => `L${cycle}X${i}`);
    const tx = redis.multi().sadd(ACTIVE_TICKERS_KEY, ...syms);
    for (const sym of syms) {
      tx.xadd(SUBSCRIPTIONS_STREAM, '*', 'symbol', sym, 'action', 'subscribe', 'source', 'bench', 'session', 'PRE_MARKET', 'timestamp', new Date().toISOString());
    }
    const t0 = Date.now();
    await tx.exec();
    await until(() => syms.every((s) => acked.has(s)), 10_000);
    for (const s of syms) lat.push((acked.get(s) as number) - t0);
    await sleep(config.SUBSCRIBE_PACE_MS + 50);
  }
  console.log(`write→upstream subscribe latency over ${lat.length} symbols in 60 scanner-like cycles: p50 ${median(lat)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms`);

  // 2. resubscribe after a reconnect
  for (const n of [1_000, 10_000]) {
    await redis.del(ACTIVE_TICKERS_KEY);
    const members = Array.from({ length: n }, (_, i) => `R${i}`);
    for (let i = 0; i < members.length; i += 1000) await redis.sadd(ACTIVE_TICKERS_KEY, ...members.slice(i, i + 1000));
    role.actor.send({ type: 'FORCE' });
    await until(() => sim.acknowledged().size === n && role.view.status().gap === 0);
    const times: number[] = [];
    const fromClose: number[] = [];
    for (let round = 0; round < 3; round++) {
      let authAt = 0;
      const onAuth = (_c: string, at: number) => (authAt = at);
      sim.once('authenticated', onAuth);
      const closedAt = Date.now();
      sim.close1008('all');
      await until(() => authAt > 0 && sim.acknowledged().size === n);
      const done = Date.now();
      times.push(done - authAt);
      fromClose.push(done - closedAt);
      // Let the connection become stable again so each round starts from the same pace.
      await until(() => role.view.status().state === 'live');
      await until(() => role.view.status().paceMultiplier === 1);
    }
    console.log(
      `resubscribe ${n} tickers after a 1008 reconnect: median ${median(times)} ms from auth_success to all acknowledged ` +
        `(${median(fromClose)} ms from the close, policy penalty included; rounds ${times.join(', ')} ms)`,
    );
  }

  // 3. heal a lost event
  const heal: number[] = [];
  for (let i = 0; i < 5; i++) {
    const sym = `H${i}`;
    const t0 = Date.now();
    await redis.sadd(ACTIVE_TICKERS_KEY, sym); // no event: it was lost
    await until(() => sim.acknowledged().has(sym), 20_000);
    heal.push(Date.now() - t0);
  }
  console.log(`heal a lost event (no stream entry), RECONCILE_INTERVAL_MS=5000: median ${median(heal)} ms, max ${Math.max(...heal)} ms (bounded by the interval)`);

  await role.stop();
  await sim.close();
  redis.disconnect();
  await redisServer.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
