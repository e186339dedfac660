// A small seeded random source (mulberry32): the same seed gives the same market, the same
// simulated prices and the same test churn, run after run.

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number;
  /** Log-uniform in [lo, hi): as many values between 1 and 10 as between 10 and 100. */
  logBetween(lo: number, hi: number): number;
  /** Standard normal. */
  gauss(): number;
  chance(p: number): boolean;
  int(lo: number, hiExclusive: number): number;
}

/**
 * One step of mulberry32 as a pure function: the draw in [0, 1) and the next state. Statecharts
 * keep the state in their context, so their randomness replays exactly under a simulated clock.
 */
export function randomStep(state: number): { value: number; state: number } {
  const a = (state + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, state: a };
}

export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  let spare: number | null = null;
  const next = () => {
    const step = randomStep(a);
    a = step.state;
    return step.value;
  };
  return {
    next,
    between: (lo, hi) => lo + (hi - lo) * next(),
    logBetween: (lo, hi) => Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * next()),
    gauss() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => next() < p,
    int: (lo, hi) => lo + Math.floor((hi - lo) * next()),
  };
}

/** The bare generator: uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  return createRandom(seed).next;
}
