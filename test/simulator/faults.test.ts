import { describe, expect, it } from 'vitest';
import { decodeServerFrame } from '../../src/upstream/codec.js';
import { MALFORMED_KINDS, admitControlMessage, malformedFrame, stormGapMs } from '../../src/simulator/faults.js';

describe('admitControlMessage', () => {
  it('lets `limit` messages through per sliding second, the window sliding with the oldest', () => {
    const times: number[] = [];
    expect(admitControlMessage(times, 0, 2)).toBe(true);
    expect(admitControlMessage(times, 400, 2)).toBe(true);
    expect(admitControlMessage(times, 999, 2)).toBe(false);
    // The first has left the window (1000 ms old): room for one.
    expect(admitControlMessage(times, 1000, 2)).toBe(true);
    expect(admitControlMessage(times, 1001, 2)).toBe(false);
    expect(times).toEqual([400, 1000]);
  });

  it('records nothing when refusing', () => {
    const times = [10];
    expect(admitControlMessage(times, 20, 1)).toBe(false);
    expect(times).toEqual([10]);
  });
});

describe('malformedFrame', () => {
  it('makes each kind a frame a client must reject, never a valid aggregate', () => {
    const now = 1_700_000_000_500;
    const frames = MALFORMED_KINDS.map((k) => malformedFrame(k, 'AAPL', now));
    expect(() => JSON.parse(frames[0] as string)).toThrow();
    expect(Array.isArray(JSON.parse(frames[1] as string))).toBe(false);
    const bad = JSON.parse(frames[2] as string) as Array<{ sym: string; c: unknown; s: number; e: number }>;
    expect(bad[0]).toMatchObject({ sym: 'AAPL', c: 'bad', s: 1_699_999_999_000, e: 1_700_000_000_000 });
    expect(JSON.parse(frames[3] as string)).toEqual([{ ev: 'XYZ', sym: 'AAPL', note: 'an event type no client knows' }]);
    for (const f of frames) expect(decodeServerFrame(f).aggregates).toEqual([]);
  });
});

describe('stormGapMs', () => {
  it('spans the range with the draw', () => {
    expect(stormGapMs({ minMs: 20_000, maxMs: 30_000 }, 0)).toBe(20_000);
    expect(stormGapMs({ minMs: 20_000, maxMs: 30_000 }, 0.5)).toBe(25_000);
    expect(stormGapMs({ minMs: 5, maxMs: 5 }, 0.9)).toBe(5);
  });
});
