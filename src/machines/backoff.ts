// Exponential backoff with full jitter (a uniformly random wait between 0 and the capped
// exponential), so many clients that lose the upstream together do not return together.

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

/** `attempt` counts from 1 for the first retry; `random` returns [0, 1). */
export function backoffDelay(attempt: number, s: BackoffSettings, random: () => number): number {
  const ceiling = Math.min(s.maxMs, s.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
