// Exponential backoff: the ceiling doubles per attempt up to a cap. The upstream connection adds
// full jitter (a uniformly random wait below the ceiling), so many clients that lose the upstream
// together do not return together; the scanner, alone of its kind, waits the ceiling itself.

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

/** The wait ceiling before retry number `attempt` (1-based). */
export function backoffCeiling(attempt: number, s: BackoffSettings): number {
  return Math.min(s.maxMs, s.baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
}

/** Full jitter below the ceiling; `random` returns [0, 1). */
export function backoffDelay(attempt: number, s: BackoffSettings, random: () => number): number {
  return Math.floor(random() * backoffCeiling(attempt, s));
}
