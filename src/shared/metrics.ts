import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// One Prometheus registry per process; every module registers its metrics here through these
// helpers, so two roles in one process (`--role all`) never register a name twice.

export const registry = new Registry();
// Node's own figures under the same prefix: livescan_process_cpu_seconds_total, livescan_nodejs_heap_size_used_bytes…
collectDefaultMetrics({ register: registry, prefix: 'livescan_' });

function getOrCreate<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** `collect`, when given, sets the metric's value at scrape time from figures kept elsewhere. */
export function counter<L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: Counter<L>) => void,
): Counter<L> {
  return getOrCreate(name, () => new Counter<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }));
}

export function gauge<L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: Gauge<L>) => void,
): Gauge<L> {
  return getOrCreate(name, () => new Gauge<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }));
}

export function histogram<L extends string = never>(
  name: string,
  help: string,
  buckets: number[],
  labelNames: readonly L[] = [],
): Histogram<L> {
  return getOrCreate(name, () => new Histogram<L>({ name, help, buckets, labelNames, registers: [registry] }));
}
