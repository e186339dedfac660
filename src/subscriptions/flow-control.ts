import { requirePositive } from '../shared/check-settings.js';

// How fast the outbox may send control messages to the upstream: a token bucket (a burst, then a
// sustained rate) scaled by a factor that only evidence lowers. The upstream documents no rate
// limit (shared/docs/upstream-protocol.md), so the defaults let a whole resubscription go out at
// once; a 1008 that our own burst plausibly caused halves the factor, and each quiet period
// gives back a fixed step (AIMD, as TCP does). Pure data and functions: the reconciler machine
// holds the state and its timers.

export interface FlowSettings {
  /** Messages that may go out back to back. */
  burstMessages: number;
  /** Sustained messages per second once the burst is spent. */
  messagesPerSecond: number;
  /** The factor never drops below this: some progress is always made. */
  minFactor: number;
  /** Quiet time (no close blamed on our sends) before each additive step back up. */
  recoverAfterMs: number;
  /** What each quiet period adds back to the factor. */
  recoverStep: number;
}

export const defaultFlowSettings: FlowSettings = {
  burstMessages: 50,
  messagesPerSecond: 20,
  minFactor: 1 / 64,
  recoverAfterMs: 30_000,
  recoverStep: 1 / 8,
};

export interface Flow {
  /** In (minFactor, 1]: 1 is the configured pace. */
  factor: number;
  /** Whole messages that may go out now. */
  tokens: number;
}

export function initialFlow(s: FlowSettings): Flow {
  return { factor: 1, tokens: s.burstMessages };
}

/** The bucket's size at the current factor: at least one message. */
export function burstOf(s: FlowSettings, f: Flow): number {
  return Math.max(1, Math.floor(s.burstMessages * f.factor));
}

export function ratePerSecond(s: FlowSettings, f: Flow): number {
  return s.messagesPerSecond * f.factor;
}

/** Time until the bucket gains one message. */
export function refillDelayMs(s: FlowSettings, f: Flow): number {
  return Math.max(1, Math.ceil(1000 / ratePerSecond(s, f)));
}

export function addToken(s: FlowSettings, f: Flow): Flow {
  return { ...f, tokens: Math.min(burstOf(s, f), f.tokens + 1) };
}

export function spend(f: Flow, messages: number): Flow {
  return { ...f, tokens: Math.max(0, f.tokens - messages) };
}

/**
 * Multiplicative decrease, at least halving, and further when the evidence says so: the upstream
 * closed us after `recentSends` messages within the burst window, so at most half of that is
 * allowed back to back from now on. What is left in the bucket shrinks with it, at once.
 */
export function slowDown(s: FlowSettings, f: Flow, recentSends?: number): Flow {
  const evidence = recentSends !== undefined && recentSends > 0 ? recentSends / 2 / s.burstMessages : 1;
  const next = { ...f, factor: Math.max(s.minFactor, Math.min(f.factor / 2, evidence)) };
  return { ...next, tokens: Math.min(next.tokens, burstOf(s, next)) };
}

/** Additive increase after a quiet period. */
export function recover(s: FlowSettings, f: Flow): Flow {
  return { ...f, factor: Math.min(1, f.factor + s.recoverStep) };
}

/** Settings that would stall the outbox or spin it fail at creation. */
export function checkFlowSettings(s: FlowSettings): FlowSettings {
  requirePositive('flow', { ...s });
  if (s.minFactor > 1) throw new Error('flow setting minFactor must not exceed 1');
  return s;
}
