import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { SnapshotFrom } from 'xstate';
import type { connectionMachine } from '../../src/machines/connection.machine.js';
import type { reconcilerMachine } from '../../src/machines/reconciler.machine.js';
import { createLogger } from '../../src/shared/logger.js';
import { registry } from '../../src/shared/metrics.js';
import { ACTIVE_TICKERS_KEY } from '../../src/shared/redis-keys.js';
import { startPolygonSimulator, type PolygonSimulator } from '../../src/simulator/polygon-simulator.js';
import type { PolygonWsRole } from '../../src/roles/polygon-ws/index.js';
import { startTestPolygonWs } from '../helpers/polygon-ws-role.js';
import { useTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';

// Staying live through storms, against the simulator on a real redis-server: each close
// attributed to its cause and logged once, the prompt return of a connection that lived, the
// slow-down earned by an unannounced rate limit, and coverage as the upstream's own record shows.

const redis = useTestRedis();
let sim: PolygonSimulator | null = null;
let role: PolygonWsRole | null = null;

afterEach(async () => {
  await role?.stop();
  await sim?.close();
  role = null;
  sim = null;
});

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, of: (event: string) => lines.filter((l) => l.event === event), log: createLogger({ level: 'info', destination: dest }) };
}

async function metricText(): Promise<string> {
  return registry.metrics();
}

/** The live machines of the current term (none while standing by). */
const connection = () => role?.actor.getSnapshot().children.connection?.getSnapshot() as SnapshotFrom<typeof connectionMachine> | undefined;
const reconciler = () => role?.actor.getSnapshot().children.reconciler?.getSnapshot() as SnapshotFrom<typeof reconcilerMachine> | undefined;

const symbols = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe('polygon-ws liveness', () => {
  it('authenticates on open, whatever the first status says (the spec shows `success`)', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0, firstStatus: 'success' });
    await redis.current.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL', 'MSFT');
    ({ role } = await startTestPolygonWs({ redisUrl: redis.current.server.url, wsUrl: sim.url }));
    await eventually(() => role?.view.status().state === 'live', 'live');
    expect([...sim.acknowledged()].sort()).toEqual(['AAPL', 'MSFT']);
    expect(sim.stats().authTimeouts).toBe(0);
  });

  it('a bare 1008 on a connection that lived: one close line with cause and lifetime, a prompt return, full coverage again', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0 });
    await redis.current.client.sadd(ACTIVE_TICKERS_KEY, ...symbols(47, 'T'));
    const cap = captureLog();
    // youngDeathMs 1 s in the test settings: wait past it so the connection has lived.
    ({ role } = await startTestPolygonWs({ redisUrl: redis.current.server.url, wsUrl: sim.url, log: cap.log }));
    await eventually(() => role?.view.status().state === 'live', 'live');
    await eventually(() => connection()?.context.matured === true, 'the connection has lived youngDeathMs');
    const closedAt = Date.now();
    sim.close1008('all');
    await eventually(() => role?.view.status().state === 'live' && sim?.acknowledged().size === 47, 'served again');
    // Test settings: a prompt wait below backoff.baseMs (50 ms), plus a handshake on loopback.
    expect(Date.now() - closedAt).toBeLessThan(5_000);
    const closes = cap.of('policy_violation_detected');
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({ close_code: 1008, cause: 'policy', died_young: false });
    expect(closes[0]?.lifetime_seconds).toBeGreaterThan(1);
    expect(cap.of('connection_closed')).toHaveLength(0);
    expect(cap.of('reconnecting')[0]).toMatchObject({ kind: 'prompt', cause: 'policy', attempt: 1 });
    const s = role!.view.status();
    expect(s.closesByCause.policy).toBe(1);
    expect(s.lastClose).toMatchObject({ cause: 'policy', code: 1008 });
    expect(s.coverage).toBe(1);
    expect(s.availability.availability).toBeGreaterThan(0);
    expect(s.availability.availability).toBeLessThan(1);
    expect(s.availability.longestDarkSeconds).toBeGreaterThan(0);
    const text = await metricText();
    expect(text).toMatch(/livescan_upstream_closes_total\{cause="policy"\} [1-9]/);
    expect(text).toMatch(/livescan_subscription_coverage_ratio 1\b/);
    expect(text).toMatch(/livescan_subscription_availability_ratio 0\.\d+/);
  });

  it('an unannounced limit on control messages: the burst is blamed, the rate drops, the SET is held with few closes, then stays held', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0, maxMessagesPerSecond: 3 });
    await redis.current.client.sadd(ACTIVE_TICKERS_KEY, ...symbols(100, 'U'));
    const cap = captureLog();
    // 25 channels a message: 4 messages for 100 tickers at once, beyond 3 a second.
    ({ role } = await startTestPolygonWs({ redisUrl: redis.current.server.url, wsUrl: sim.url, log: cap.log }));
    await eventually(() => sim?.acknowledged().size === 100 && role?.view.status().gap === 0, 'SET held', 30_000);
    const s = role!.view.status();
    expect(s.closesByCause.sent_burst).toBeGreaterThanOrEqual(1);
    expect(s.closesByCause.sent_burst).toBeLessThanOrEqual(4);
    expect(s.flow?.factor).toBeLessThan(1);
    expect(cap.of('subscribe_rate_lowered').length).toBe(s.closesByCause.sent_burst);
    const burst = cap.of('policy_violation_detected').find((l) => l.cause === 'sent_burst');
    expect(burst?.sent_in_burst_window).toBeGreaterThanOrEqual(3);
    const closes = sim.stats().floodCloses;
    const batches = reconciler()?.context.metrics.batches_sent;
    // Held: a full reconciliation, asked for and awaited, finds nothing to send and causes no close.
    const result = await role!.view.force();
    expect(result).toMatchObject({ status: 'ok', drift: 0, desired: 100, acknowledged: 100 });
    expect(reconciler()?.context.metrics.batches_sent).toBe(batches);
    expect(sim.stats().floodCloses).toBe(closes);
    expect(sim.acknowledged().size).toBe(100);
  });

  it('connections that die young escalate the wait; one that lives returns promptly again', async () => {
    sim = await startPolygonSimulator({ aggregateIntervalMs: 0, dieYoungAfterMs: 50 });
    await redis.current.client.sadd(ACTIVE_TICKERS_KEY, 'AAPL');
    const cap = captureLog();
    ({ role } = await startTestPolygonWs({ redisUrl: redis.current.server.url, wsUrl: sim.url, log: cap.log }));
    await eventually(() => cap.of('reconnecting').length >= 4, 'four reconnects');
    const waits = cap.of('reconnecting').slice(0, 4);
    expect(waits.map((w) => w.attempt)).toEqual([1, 2, 3, 4]);
    expect(waits.slice(1).every((w) => w.kind === 'escalated')).toBe(true);
    expect(cap.of('policy_violation_detected').every((l) => l.died_young === true)).toBe(true);
    sim.setDieYoung(null);
    await eventually(() => role?.view.status().state === 'live' && sim?.acknowledged().has('AAPL') === true, 'live again', 15_000);
  });
});
