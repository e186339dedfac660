import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REPEAT_PERIOD_MS } from '../../src/shared/log-throttle.js';
import { createLogger } from '../../src/shared/logger.js';

// Warnings that repeat while a condition lasts reach the log once per period per role, carrying
// how many were held back; other lines are never held back.

function capture(now: () => number) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination, now }) };
}

describe('repeating warnings', () => {
  it('are written once per period per role, the next one with a suppressed count', () => {
    let t = 1_000_000;
    const { lines, log } = capture(() => t);
    const pws = log.child({ role: 'polygon-ws' });
    const ws = log.child({ role: 'ws-server' });
    for (let i = 0; i < 5; i++) pws.warn({ event: 'active_set_missing', exists: false });
    ws.warn({ event: 'active_set_missing', exists: false });
    expect(lines.map((l) => [l.role, l.event, l.suppressed])).toEqual([
      ['polygon-ws', 'active_set_missing', undefined],
      ['ws-server', 'active_set_missing', undefined],
    ]);
    t += REPEAT_PERIOD_MS - 1;
    pws.warn({ event: 'active_set_missing', exists: false });
    expect(lines).toHaveLength(2);
    t += 1;
    pws.warn({ event: 'active_set_missing', exists: true });
    expect(lines[2]).toMatchObject({ role: 'polygon-ws', event: 'active_set_missing', exists: true, suppressed: 5 });
  });

  it('lines that are events in their own right are never held back', () => {
    const { lines, log } = capture(() => 0);
    for (let i = 0; i < 3; i++) log.warn({ event: 'connection_closed', close_code: 1008 });
    for (let i = 0; i < 3; i++) log.warn({ event: 'scanner_cycle_failed', attempt: i });
    log.warn('no event at all');
    expect(lines).toHaveLength(7);
  });

  it('a held-back line never leaks a secret into the next one', () => {
    let t = 0;
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: 'info', destination, secrets: ['sk-live-secret'], now: () => t });
    log.warn({ event: 'leader_lease_error', error: 'auth sk-live-secret refused' });
    log.warn({ event: 'leader_lease_error', error: 'auth sk-live-secret refused' });
    t += REPEAT_PERIOD_MS;
    log.warn({ event: 'leader_lease_error', error: 'auth sk-live-secret refused' });
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toContain('sk-live-secret');
    expect(lines[1]).toContain('"suppressed":1');
  });
});
