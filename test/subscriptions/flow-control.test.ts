import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addToken,
  burstOf,
  checkFlowSettings,
  defaultFlowSettings,
  initialFlow,
  ratePerSecond,
  recover,
  refillDelayMs,
  slowDown,
  spend,
  type FlowSettings,
} from '../../src/subscriptions/flow-control.js';

const s: FlowSettings = { burstMessages: 20, messagesPerSecond: 10, minFactor: 1 / 16, recoverAfterMs: 1_000, recoverStep: 0.25 };

describe('flow control', () => {
  it('starts full at the configured pace', () => {
    const f = initialFlow(s);
    expect(f).toEqual({ factor: 1, tokens: 20 });
    expect(burstOf(s, f)).toBe(20);
    expect(ratePerSecond(s, f)).toBe(10);
    expect(refillDelayMs(s, f)).toBe(100);
  });

  it('the documented defaults', () => {
    expect(defaultFlowSettings).toEqual({ burstMessages: 50, messagesPerSecond: 20, minFactor: 1 / 64, recoverAfterMs: 30_000, recoverStep: 1 / 8 });
  });

  it('the defaults let a whole 10,000-ticker resubscription (10 messages of 1,000) out at once', () => {
    expect(burstOf(defaultFlowSettings, initialFlow(defaultFlowSettings))).toBeGreaterThanOrEqual(10);
  });

  it('tokens are spent and regained one at a time, never above the burst nor below zero', () => {
    let f = spend(initialFlow(s), 25);
    expect(f.tokens).toBe(0);
    for (let i = 0; i < 30; i++) f = addToken(s, f);
    expect(f.tokens).toBe(20);
  });

  it('a slow-down halves the factor and shrinks the bucket at once; evidence may lower it further', () => {
    const half = slowDown(s, initialFlow(s));
    expect(half).toEqual({ factor: 0.5, tokens: 10 });
    expect(ratePerSecond(s, half)).toBe(5);
    expect(refillDelayMs(s, half)).toBe(200);
    // Closed after 6 messages: at most 3 back to back from now on.
    expect(burstOf(s, slowDown(s, initialFlow(s), 6))).toBe(3);
    // Evidence never raises it: 100 messages still means at least halving.
    expect(slowDown(s, initialFlow(s), 100).factor).toBe(0.5);
  });

  it('never below the floor, never above 1; each quiet period adds a fixed step', () => {
    let f = initialFlow(s);
    for (let i = 0; i < 20; i++) f = slowDown(s, f, 1);
    expect(f.factor).toBe(1 / 16);
    expect(burstOf(s, f)).toBe(1);
    f = recover(s, f);
    expect(f.factor).toBe(1 / 16 + 0.25);
    for (let i = 0; i < 10; i++) f = recover(s, f);
    expect(f.factor).toBe(1);
  });

  it('property: whatever happens, the factor stays in [minFactor, 1] and the tokens in [0, burst]', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'spend' as const, n: 1 }),
      fc.constant({ kind: 'add' as const, n: 0 }),
      fc.constant({ kind: 'recover' as const, n: 0 }),
      fc.nat(50).map((n) => ({ kind: 'slow' as const, n })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        let f = initialFlow(s);
        for (const o of ops) {
          f = o.kind === 'spend' ? spend(f, o.n) : o.kind === 'add' ? addToken(s, f) : o.kind === 'recover' ? recover(s, f) : slowDown(s, f, o.n);
          expect(f.factor).toBeGreaterThanOrEqual(s.minFactor);
          expect(f.factor).toBeLessThanOrEqual(1);
          expect(f.tokens).toBeGreaterThanOrEqual(0);
          expect(f.tokens).toBeLessThanOrEqual(burstOf(s, f));
          expect(Number.isFinite(refillDelayMs(s, f))).toBe(true);
        }
      }),
    );
  });

  it('edges: a bucket rounds down but holds one message at least, a refill is never under 1 ms, no evidence means halving', () => {
    expect(burstOf(s, { factor: 0.33, tokens: 0 })).toBe(6);
    expect(burstOf(s, { factor: 0.01, tokens: 0 })).toBe(1);
    expect(refillDelayMs({ ...s, messagesPerSecond: 5_000 }, initialFlow(s))).toBe(1);
    expect(refillDelayMs({ ...s, messagesPerSecond: 3 }, initialFlow(s))).toBe(334);
    // recentSends 0 is no evidence: the plain halving, tokens cut to the new bucket.
    expect(slowDown(s, initialFlow(s), 0)).toEqual({ factor: 0.5, tokens: 10 });
    // Fewer tokens than the new bucket: kept as they are.
    expect(slowDown(s, { factor: 1, tokens: 4 })).toEqual({ factor: 0.5, tokens: 4 });
    expect(spend({ factor: 1, tokens: 5 }, 2)).toEqual({ factor: 1, tokens: 3 });
    expect(addToken(s, { factor: 1, tokens: 5 })).toEqual({ factor: 1, tokens: 6 });
    expect(recover(s, { factor: 0.5, tokens: 7 })).toEqual({ factor: 0.75, tokens: 7 });
  });

  it('refuses settings that would stall or spin the outbox', () => {
    expect(checkFlowSettings({ ...s, minFactor: 1 }).minFactor).toBe(1);
    expect(() => checkFlowSettings({ ...s, minFactor: 1.5 })).toThrow('flow setting minFactor must not exceed 1');
    expect(() => checkFlowSettings({ ...s, recoverAfterMs: 0 })).toThrow('flow setting recoverAfterMs must be a positive number, got 0');
    expect(checkFlowSettings(defaultFlowSettings)).toBe(defaultFlowSettings);
    for (const bad of [{ messagesPerSecond: 0 }, { burstMessages: Number.NaN }, { minFactor: 2 }, { recoverStep: -1 }]) {
      expect(() => checkFlowSettings({ ...s, ...bad })).toThrow(/flow setting/);
    }
  });
});
