import { describe, expect, it } from 'vitest';
import { ClientMessageLog } from '../../src/simulator/ground-truth.js';
import { SimulatorCounters } from '../../src/simulator/stats.js';

describe('SimulatorCounters', () => {
  it('counts closes by code, delivered events by type, and high-water marks', () => {
    const c = new SimulatorCounters();
    c.countClose(1008);
    c.countClose(1008);
    c.countClose(1000);
    c.countDelivered([{ ev: 'A' }, { ev: 'AM' }, { ev: 'T' }, { ev: 'T' }, { ev: 'Q' }, { ev: 'LULD' }, { ev: 'NOI' }] as never);
    c.raise('maxChannelsPerMessage', 5);
    c.raise('maxChannelsPerMessage', 3);
    const s = c.snapshot(2, 1);
    expect(s).toMatchObject({
      closesByCode: { '1008': 2, '1000': 1 },
      aggregatesSent: 1,
      minuteAggregatesSent: 1,
      tradesSent: 2,
      quotesSent: 1,
      luldSent: 1,
      imbalancesSent: 1,
      maxChannelsPerMessage: 5,
      openConnections: 2,
      authenticatedNow: 1,
    });
  });

  it('hands out a copy: a snapshot does not move with later counts', () => {
    const c = new SimulatorCounters();
    const before = c.snapshot(0, 0);
    c.countClose(1012);
    c.counts.framesSent++;
    expect(before.closesByCode).toEqual({});
    expect(before.framesSent).toBe(0);
    expect(c.snapshot(0, 0).framesSent).toBe(1);
  });
});

describe('ClientMessageLog', () => {
  it('keeps at least the last `size` messages, bounded', () => {
    const log = new ClientMessageLog(10);
    for (let i = 0; i < 100; i++) log.record({ at: i, connId: 'c1', action: 'subscribe', channels: [`A.S${i}`] });
    const all = log.all();
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(all.length).toBeLessThanOrEqual(11);
    expect(all.at(-1)?.at).toBe(99);
    expect(all.map((r) => r.at)).toEqual([...all.map((r) => r.at)].sort((a, b) => a - b));
  });
});
