import { AvailabilityMeter, type AvailabilityFigures } from '../../src/subscriptions/coverage.js';
import type { PolygonSimulator } from '../../src/simulator/polygon-simulator.js';

// What the upstream really serves, from the simulator's own record (never from polygon-ws):
// the acknowledged channels of its newest live connection against the SET the bench wrote.
// Coverage is recomputed on every change of either, so the time-weighted figures are exact to
// the event, not to a sampling period.

export class GroundTruth {
  private desired = new Set<string>();
  private readonly meter = new AvailabilityMeter();
  private fullAt: number | null = null;
  private waiters: { resolve: () => void; timer: NodeJS.Timeout }[] = [];
  private readonly off: (() => void)[] = [];

  constructor(private readonly sim: PolygonSimulator) {
    const on = <A extends unknown[]>(name: 'subscribed' | 'unsubscribed' | 'closed' | 'authenticated', f: (...a: A) => void) => {
      this.sim.on(name, f as never);
      this.off.push(() => this.sim.off(name, f as never));
    };
    const refresh = () => this.refresh();
    on('subscribed', refresh);
    on('unsubscribed', refresh);
    on('closed', refresh);
    on('authenticated', refresh);
  }

  start(): void {
    this.meter.start(performance.now(), this.coverage());
    this.refresh();
  }

  setDesired(symbols: Iterable<string>): void {
    this.desired = new Set(symbols);
    this.refresh();
  }

  /** Fully covered now. */
  full(): boolean {
    const c = this.coverage();
    return c.covered >= c.desired;
  }

  /** Resolves once fully covered (at once if it is), or rejects after `timeoutMs`. */
  whenFull(timeoutMs: number): Promise<void> {
    if (this.full()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`not fully covered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ resolve, timer });
    });
  }

  figures(): AvailabilityFigures {
    return this.meter.read(performance.now());
  }

  /** When full coverage was last regained (performance.now()), or null. */
  lastFullAt(): number | null {
    return this.fullAt;
  }

  stop(): void {
    this.meter.pause(performance.now());
    this.off.forEach((f) => f());
  }

  private coverage() {
    const served = this.sim.acknowledged();
    let covered = 0;
    for (const s of this.desired) if (served.has(s)) covered++;
    return { desired: this.desired.size, covered };
  }

  private refresh(): void {
    const now = performance.now();
    const c = this.coverage();
    const wasFull = this.fullAt !== null;
    this.meter.update(now, c);
    if (c.covered >= c.desired) {
      if (!wasFull) this.fullAt = now;
      const w = this.waiters;
      this.waiters = [];
      for (const x of w) {
        clearTimeout(x.timer);
        x.resolve();
      }
    } else this.fullAt = null;
  }
}
