import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createActiveSetLog } from '../../../src/roles/polygon-ws/active-set-log.js';
import { createLogger } from '../../../src/shared/logger.js';

// A SET missing for a minute, read every second, through the real logger: one line on entering,
// then one per period with the reads so far, and one when it is back.

function setup() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  let t = 1_000_000;
  const now = () => t;
  const log = createLogger({ level: 'info', destination: dest, now }).child({ role: 'polygon-ws' });
  return { log: createActiveSetLog({ log, now }), lines, advance: (ms: number) => (t += ms) };
}

describe('active_set_missing lines', () => {
  it('one on entering, then at most one per period with the count, and one on recovery', () => {
    const { log, lines, advance } = setup();
    for (let i = 0; i < 60; i++) {
      log.missing(false);
      log.presence(false);
      advance(1_000);
    }
    // Reads at 0 s … 59 s: lines at 0 s and 30 s.
    expect(lines).toMatchObject([
      { event: 'active_set_missing', level: 'warn', exists: false, missing_reads: 1 },
      { event: 'active_set_missing', exists: false, missing_reads: 31, suppressed: 29 },
    ]);
    expect(lines[0]).not.toHaveProperty('suppressed');
    log.presence(true);
    expect(lines[2]).toMatchObject({ event: 'active_set_recovered', level: 'info', missing_reads: 60, missing_seconds: 60 });
    // Present again: further snapshots say nothing.
    log.presence(true);
    expect(lines).toHaveLength(3);
  });

  it('a later outage counts afresh', () => {
    const { log, lines, advance } = setup();
    log.missing(true);
    log.missing(true);
    log.presence(true);
    advance(40_000);
    log.missing(false);
    expect(lines.map((l) => [l.event, l.missing_reads])).toEqual([
      ['active_set_missing', 1],
      ['active_set_recovered', 2],
      ['active_set_missing', 1],
    ]);
  });

  it('a term that ends forgets its outage: no recovery line for it', () => {
    const { log, lines } = setup();
    log.missing(false);
    log.forget();
    log.presence(true);
    expect(lines.map((l) => l.event)).toEqual(['active_set_missing']);
  });
});
