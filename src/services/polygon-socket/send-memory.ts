// What we sent to the upstream lately: a close is read against it (a 1008 right after a burst of
// our own messages reads differently from one out of the blue). Bounded by count and, when read,
// by age; the clock is monotonic and the caller's.

/** How far back a close looks at our own messages: longer than any burst window worth a setting. */
export const SEND_MEMORY_MS = 10_000;
const SEND_MEMORY_COUNT = 256;

export interface SendRecord {
  at: number;
  channels: number;
}

export class SendMemory {
  /** Newest last. */
  private readonly sends: SendRecord[] = [];

  constructor(private readonly limit = SEND_MEMORY_COUNT) {}

  remember(at: number, channels: number): void {
    this.sends.push({ at, channels });
    if (this.sends.length > this.limit) this.sends.splice(0, this.sends.length - this.limit);
  }

  /** The messages sent since `since` and within `windowMs` of `now`, newest first. */
  recent(now: number, since: number, windowMs: number): SendRecord[] {
    const out: SendRecord[] = [];
    for (let i = this.sends.length - 1; i >= 0; i--) {
      const r = this.sends[i] as SendRecord;
      if (r.at < since || now - r.at > windowMs) break;
      out.push(r);
    }
    return out;
  }

  /** How many messages, carrying how many channels, went out within `windowMs` of `now`. */
  summary(now: number, windowMs: number): { messages: number; channels: number } {
    const within = this.recent(now, -Infinity, windowMs);
    return { messages: within.length, channels: within.reduce((n, r) => n + r.channels, 0) };
  }
}
