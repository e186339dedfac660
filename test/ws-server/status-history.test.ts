import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/ws-server/service-status.js';
import { StatusHistory } from '../../src/ws-server/status-history.js';

// The ws-server's memory of polygon-ws's last status documents, behind the dashboard's timeline.

const report = (doc: Record<string, unknown> | null, now = '2026-01-01T00:10:00.000Z'): StatusReport => ({
  now,
  redis: 'up',
  services: { 'polygon-ws': doc, scanner: null, 'ws-server': {} },
});

const doc = (at: string, extra: Record<string, unknown> = {}) => ({
  role: 'polygon-ws',
  state: 'live',
  desired: 40,
  acknowledged: 38,
  availability: 0.99,
  reconnections: 1,
  closes_by_cause: { policy: 1 },
  updated_at: at,
  ...extra,
});

describe('status history', () => {
  it('keeps one sample per document written, with the figures the timeline draws', () => {
    const h = new StatusHistory();
    h.record(report(doc('2026-01-01T00:00:00.000Z')));
    h.record(report(doc('2026-01-01T00:00:00.000Z')));
    h.record(report(doc('2026-01-01T00:00:02.000Z', { acknowledged: 40, reconnections: 2, closes_by_cause: { policy: 1, stale: 1 } })));
    expect(h.list()).toEqual([
      { t: Date.parse('2026-01-01T00:00:00.000Z'), state: 'live', desired: 40, acknowledged: 38, availability: 0.99, reconnections: 1, closes_by_cause: { policy: 1 } },
      { t: Date.parse('2026-01-01T00:00:02.000Z'), state: 'live', desired: 40, acknowledged: 40, availability: 0.99, reconnections: 2, closes_by_cause: { policy: 1, stale: 1 } },
    ]);
  });

  it('records the silence of a missing document, once per interval however often it is read', () => {
    const h = new StatusHistory();
    h.record(report(null, '2026-01-01T00:00:00.000Z'));
    h.record(report(null, '2026-01-01T00:00:00.500Z'));
    h.record(report(null, '2026-01-01T00:00:02.000Z'));
    expect(h.list().map((s) => [s.t % 10_000, s.state, s.desired])).toEqual([
      [0, null, null],
      [2_000, null, null],
    ]);
  });

  it('drops malformed figures rather than passing them on, and ignores a document without a time', () => {
    const h = new StatusHistory();
    h.record(report(doc('2026-01-01T00:00:00.000Z', { desired: 'many', availability: null, closes_by_cause: { policy: 'x', stale: 2 }, state: 7 })));
    h.record(report(doc('not a time')));
    h.record(report({ state: 'live' }));
    expect(h.list()).toEqual([
      { t: Date.parse('2026-01-01T00:00:00.000Z'), state: null, desired: null, acknowledged: 38, availability: null, reconnections: 1, closes_by_cause: { stale: 2 } },
    ]);
  });

  it('keeps time order and only the newest samples', () => {
    const h = new StatusHistory(3);
    for (const s of [5, 1, 3, 2, 4, 3]) h.record(report(doc(`2026-01-01T00:00:0${s}.000Z`)));
    expect(h.list().map((s) => new Date(s.t).getUTCSeconds())).toEqual([3, 4, 5]);
  });
});
