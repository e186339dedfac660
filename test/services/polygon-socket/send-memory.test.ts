import { describe, expect, it } from 'vitest';
import { SendMemory } from '../../../src/services/polygon-socket/send-memory.js';

describe('SendMemory', () => {
  it('reads back, newest first, what was sent since a moment and within a window', () => {
    const m = new SendMemory();
    m.remember(100, 5);
    m.remember(200, 1);
    m.remember(900, 3);
    expect(m.recent(1000, -Infinity, 850)).toEqual([
      { at: 900, channels: 3 },
      { at: 200, channels: 1 },
    ]);
    // Only this connection's: what went out before it opened is not its burst.
    expect(m.recent(1000, 150, 10_000).map((r) => r.at)).toEqual([900, 200]);
    expect(m.summary(1000, 10_000)).toEqual({ messages: 3, channels: 9 });
    expect(m.summary(20_000, 10_000)).toEqual({ messages: 0, channels: 0 });
  });

  it('keeps only the newest records beyond its limit', () => {
    const m = new SendMemory(3);
    for (let i = 1; i <= 10; i++) m.remember(i, i);
    expect(m.recent(10, -Infinity, 100).map((r) => r.at)).toEqual([10, 9, 8]);
  });
});
