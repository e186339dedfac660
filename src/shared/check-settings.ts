// Settings that are waits, rates or sizes must be positive finite numbers: a NaN or zero wait is
// a tight loop, a zero rate a stalled outbox. Machines check their settings at creation with
// this, so a bad value fails at once with its name instead of misbehaving later.

export function requirePositive(scope: string, values: Record<string, unknown>): void {
  for (const [name, v] of Object.entries(values)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${scope} setting ${name} must be a positive number, got ${String(v)}`);
  }
}
