import { describe, expect, it } from 'vitest';
import { createFigureBook, socketStatsInto, type ConnectionClosed } from '../../../src/roles/polygon-ws/figures.js';
import { emptyBook, toSymbolSet } from '../../../src/subscriptions/subscription-book.js';

// The figures /stats and the status document report, counted once per event and kept across
// leader terms.

const close = (over: Partial<ConnectionClosed> = {}): ConnectionClosed => ({
  type: 'disconnected',
  code: 1008,
  reason: 'policy',
  cause: 'policy',
  matured: true,
  recentSends: 0,
  ...over,
});

describe('figure book', () => {
  it('counts each close once: by code, by cause, in total, with the lifetime since auth', () => {
    let t = 0;
    const book = createFigureBook({ now: () => t });
    book.connected();
    t = 2_500;
    expect(book.closed(close())).toEqual({ lifetimeSeconds: 2.5 });
    expect(book.closed(close({ code: 1006, reason: '', cause: 'connect_failed' }))).toEqual({ lifetimeSeconds: null });
    book.kicked();
    const f = book.read();
    expect(f.reconnections).toBe(2);
    expect(f.reconnectionsLastHour).toBe(2);
    expect(f.closesByCode).toEqual({ '1008': 1, '1006': 1 });
    expect(f.closesByCause).toMatchObject({ policy: 1, connect_failed: 1, network: 0 });
    expect(f.maxConnectionsKicks).toBe(1);
    expect(f.lastClose).toMatchObject({ code: 1006, cause: 'connect_failed', lifetime_seconds: null });
  });

  it('the last error is whichever part reported last: the socket or the connection machine', () => {
    const book = createFigureBook();
    const stats = socketStatsInto(book);
    expect(book.read().lastError).toBeNull();
    stats.lastError = 'connect ECONNREFUSED 127.0.0.1:1';
    expect(book.read().lastError).toBe('connect ECONNREFUSED 127.0.0.1:1');
    book.noteError('upstream silent: heartbeat timeout');
    expect(stats.lastError).toBe('upstream silent: heartbeat timeout');
    stats.messagesIn++;
    stats.lastError = 'max_connections: another client';
    expect(book.read().lastError).toBe('max_connections: another client');
    expect(stats.messagesIn).toBe(1);
  });

  it('coverage while leading, none while standing by; availability measured only while leading', () => {
    let t = 0;
    const book = createFigureBook({ now: () => t });
    book.onBook({ ...emptyBook, desired: toSymbolSet(['AAPL', 'MSFT']), acked: toSymbolSet(['AAPL']) });
    expect(book.read().coverage).toEqual({ desired: 2, covered: 1, share: 0.5 });
    t = 1_000;
    book.onBook(null);
    expect(book.read().coverage).toBeNull();
    t = 5_000;
    expect(book.read().availability.measuredSeconds).toBeCloseTo(1, 5);
  });
});
