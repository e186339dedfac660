import type { StatusReport } from './service-status.js';

// The last minutes of polygon-ws's status documents, kept by the ws-server so the dashboard's
// timeline of the heart (desired versus acknowledged, reconnects, availability) is drawn at once
// on load rather than starting empty. One sample per status document polygon-ws wrote (it
// rewrites it every 2 s); a missing document is a sample too: the timeline shows the silence.

export interface HeartSample {
  /** Unix ms: when polygon-ws wrote the document, or when it was found missing. */
  t: number;
  /** polygon-ws's state; null when no status document was there (down, or Redis unreachable). */
  state: string | null;
  desired: number | null;
  acknowledged: number | null;
  availability: number | null;
  /** Lifetime counters: the dashboard marks a reconnect or a close cause where they grow. */
  reconnections: number | null;
  closes_by_cause: Record<string, number>;
}

export const HEART_HISTORY_SAMPLES = 150;
/** While no document is there, one sample per this many ms however often /status is read. */
const SILENCE_SAMPLE_MS = 1_500;

const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function causesOf(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!v || typeof v !== 'object') return out;
  for (const [k, n] of Object.entries(v)) if (typeof n === 'number' && Number.isFinite(n)) out[k] = n;
  return out;
}

export class StatusHistory {
  private readonly samples: HeartSample[] = [];
  private lastWrittenAt: string | null = null;

  constructor(private readonly max = HEART_HISTORY_SAMPLES) {}

  record(report: StatusReport): void {
    const doc = report.services['polygon-ws'];
    if (doc && typeof doc === 'object') {
      const d = doc as Record<string, unknown>;
      const writtenAt = typeof d.updated_at === 'string' ? d.updated_at : null;
      const t = writtenAt ? Date.parse(writtenAt) : NaN;
      // The same document read twice is one sample.
      if (writtenAt === null || !Number.isFinite(t) || writtenAt === this.lastWrittenAt) return;
      this.lastWrittenAt = writtenAt;
      this.push({
        t,
        state: typeof d.state === 'string' ? d.state : null,
        desired: numberOrNull(d.desired),
        acknowledged: numberOrNull(d.acknowledged),
        availability: numberOrNull(d.availability),
        reconnections: numberOrNull(d.reconnections),
        closes_by_cause: causesOf(d.closes_by_cause),
      });
      return;
    }
    const t = Date.parse(report.now);
    const last = this.samples[this.samples.length - 1];
    if (!Number.isFinite(t) || (last && last.state === null && t - last.t < SILENCE_SAMPLE_MS)) return;
    this.push({ t, state: null, desired: null, acknowledged: null, availability: null, reconnections: null, closes_by_cause: {} });
  }

  list(): HeartSample[] {
    return this.samples.slice();
  }

  private push(s: HeartSample): void {
    // Kept in time order whatever the order of arrival (a new leader's clock, a late read).
    let i = this.samples.length;
    while (i > 0 && (this.samples[i - 1]?.t ?? 0) > s.t) i--;
    if (this.samples[i - 1]?.t === s.t) return;
    this.samples.splice(i, 0, s);
    if (this.samples.length > this.max) this.samples.splice(0, this.samples.length - this.max);
  }
}
