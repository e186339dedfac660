// The faults the simulator plays, on demand and on a schedule: bare 1008 closes (one-off, the
// storm, connections that die young), status-then-1008 drops (max_connections, slow_consumer,
// force_disconnect), slow and lost acks, a limit on control messages, malformed frames, and the
// first status's wording. Which of them the real server shows is told in options.ts
// (ROBUSTNESS_FAULTS); `strict` refuses the others.

import { serverEvents } from '../upstream/codec.js';
import { mulberry32 } from '../shared/prng.js';
import { checkStormRange, refuseInStrictMode, type FirstStatus, type Schedule1008Range, type SimulatorSettings, type Target } from './options.js';
import type { ServerContext } from './server-context.js';
import { closeSession, isLive, type Session } from './session.js';

export type MalformedKind = 'invalid_json' | 'not_array' | 'bad_aggregate' | 'unknown_event';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['invalid_json', 'not_array', 'bad_aggregate', 'unknown_event'];

/** A frame of the given kind about `sym`, its windows on the second before `nowMs`. */
export function malformedFrame(kind: MalformedKind, sym: string, nowMs: number): string {
  const e = Math.floor(nowMs / 1000) * 1000;
  switch (kind) {
    case 'invalid_json':
      return `[{"ev":"A","sym":"${sym}","c":1`;
    case 'not_array':
      return JSON.stringify({ ev: 'status', status: 'success', message: 'not an array' });
    case 'bad_aggregate':
      return JSON.stringify([{ ev: 'A', sym, v: 100, av: 100, op: 1, vw: 1, o: 1, c: 'bad', h: 1, l: 1, a: 1, z: 1, s: e - 1000, e }]);
    case 'unknown_event':
      return JSON.stringify([{ ev: 'XYZ', sym, note: 'an event type no client knows' }]);
  }
}

/**
 * The sliding-second limit on control messages: `times` holds the arrival times (monotonic ms,
 * oldest first) of the messages let through within the last second. True (and `now` recorded)
 * when one more fits under `limit`.
 */
export function admitControlMessage(times: number[], now: number, limit: number): boolean {
  let expired = 0;
  while (expired < times.length && (times[expired] ?? now) <= now - 1000) expired++;
  if (expired > 0) times.splice(0, expired);
  if (times.length >= limit) return false;
  times.push(now);
  return true;
}

/** A storm's gap for a draw `u` in [0, 1). */
export function stormGapMs({ minMs, maxMs }: Schedule1008Range, u: number): number {
  return minMs + (maxMs - minMs) * u;
}

export class Faults {
  /** Delay of every subscribe/unsubscribe ack ("slow acks"). */
  ackDelayMs = 0;
  private dropAckProbability = 0;
  private maxMessagesPerSecond = 0;
  private dieYoungAfterMs: number | null = null;
  private firstStatus: FirstStatus;
  private readonly strict: boolean;
  private readonly rng: () => number;
  /** Its own stream, so a storm leaves the lost-ack draws of a seed exactly as they were. */
  private readonly stormRng: () => number;
  private schedule1008Timer: NodeJS.Timeout | null = null;
  private malformedTimer: NodeJS.Timeout | null = null;
  private malformedTurn = 0;

  constructor(
    private readonly ctx: ServerContext,
    settings: SimulatorSettings,
  ) {
    this.strict = settings.strict;
    this.setAckDelay(settings.ackDelayMs);
    this.dropAcks(settings.dropAckProbability);
    this.setMaxMessagesPerSecond(settings.maxMessagesPerSecond);
    this.setDieYoung(settings.dieYoungAfterMs);
    this.firstStatus = settings.firstStatus;
    this.rng = mulberry32(settings.seed ^ 0x5bd1e995);
    this.stormRng = mulberry32(settings.seed ^ 0x27d4eb2f);
  }

  isStrict(): boolean {
    return this.strict;
  }

  /** Stops the scheduled faults (the server is shutting down). */
  stop(): void {
    if (this.schedule1008Timer) clearTimeout(this.schedule1008Timer);
    if (this.malformedTimer) clearInterval(this.malformedTimer);
    this.schedule1008Timer = this.malformedTimer = null;
  }

  // ---- closes ---------------------------------------------------------------------------------

  close1008(which: Target): number {
    const targets = this.ctx.sessions.targets(which, false);
    for (const s of targets) closeSession(s, 1008, 'policy violation', this.ctx.log);
    return targets.length;
  }

  setSchedule1008(schedule: number | Schedule1008Range | null): void {
    if (typeof schedule === 'object' && schedule !== null) checkStormRange(schedule);
    if (this.schedule1008Timer) clearTimeout(this.schedule1008Timer);
    this.schedule1008Timer = null;
    if (schedule === null || this.ctx.isShuttingDown()) return;
    if (typeof schedule === 'number') {
      if (schedule > 0) this.schedule1008Timer = setInterval(() => this.scheduled1008(), schedule);
      return;
    }
    const arm = () => {
      const timer = setTimeout(() => {
        this.scheduled1008();
        // A later setSchedule1008 or close() owns the schedule now: this chain ends here.
        if (this.schedule1008Timer === timer && !this.ctx.isShuttingDown()) arm();
      }, stormGapMs(schedule, this.stormRng()));
      this.schedule1008Timer = timer;
    };
    arm();
  }

  private scheduled1008(): void {
    if (this.ctx.isSilent()) return;
    for (const s of this.ctx.sessions.liveAuthenticated()) {
      this.ctx.counters.counts.scheduled1008Closes++;
      closeSession(s, 1008, 'policy violation', this.ctx.log);
    }
  }

  setDieYoung(ms: number | null): void {
    this.dieYoungAfterMs = ms === null || !Number.isFinite(ms) ? null : Math.max(0, ms);
  }

  /** At auth_success: the connection's fate, if connections die young. */
  armDieYoung(s: Session): void {
    const ms = this.dieYoungAfterMs;
    if (ms === null) return;
    s.youngTimer = setTimeout(() => {
      s.youngTimer = null;
      if (this.ctx.isSilent() || !isLive(s)) return;
      this.ctx.counters.counts.youngDeaths++;
      closeSession(s, 1008, 'policy violation', this.ctx.log);
    }, ms);
  }

  setMaxMessagesPerSecond(n: number): void {
    const limit = Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0;
    if (this.strict && limit > 0) refuseInStrictMode('a limit on control messages');
    this.maxMessagesPerSecond = limit;
  }

  /** For a subscribe/unsubscribe message: true when it broke the limit and the connection is closing. */
  flooded(s: Session): boolean {
    if (this.maxMessagesPerSecond <= 0) return false;
    // Monotonic: a step of the wall clock must neither empty nor stretch the window.
    if (admitControlMessage(s.controlTimes, performance.now(), this.maxMessagesPerSecond)) return false;
    this.ctx.counters.counts.floodCloses++;
    // Bare, as the real server's policy closes are: nothing tells the client which rule it broke.
    closeSession(s, 1008, 'policy violation', this.ctx.log);
    return true;
  }

  // ---- status, then 1008 ----------------------------------------------------------------------

  /** Each of `which` gets `status` (even in silent mode), then a 1008. */
  private dropWithStatus(which: Target, drop: (s: Session) => void): number {
    const targets = this.ctx.sessions.targets(which, true);
    for (const s of targets) drop(s);
    return targets.length;
  }

  kickWithMaxConnections(which: Target): number {
    return this.dropWithStatus(which, (s) => this.kick(s));
  }

  dropSlowConsumer(which: Target): number {
    return this.dropWithStatus(which, (s) => this.dropSlow(s));
  }

  forceDisconnect(which: Target): number {
    return this.dropWithStatus(which, (s) => {
      this.ctx.counters.counts.forceDisconnects++;
      this.ctx.sendEvents(s, [serverEvents.forceDisconnect()], true);
      closeSession(s, 1008, 'force disconnect', this.ctx.log);
    });
  }

  /** Another connection took the key. */
  kick(s: Session): void {
    this.ctx.counters.counts.maxConnectionsKicks++;
    this.ctx.sendEvents(s, [serverEvents.maxConnections()], true);
    closeSession(s, 1008, 'max connections', this.ctx.log);
  }

  dropSlow(s: Session): void {
    this.ctx.counters.counts.slowConsumerDrops++;
    this.ctx.sendEvents(s, [serverEvents.slowConsumer()], true);
    closeSession(s, 1008, 'slow consumer', this.ctx.log);
  }

  // ---- acks -----------------------------------------------------------------------------------

  setAckDelay(ms: number): void {
    this.ackDelayMs = Math.max(0, ms);
  }

  dropAcks(probability: number): void {
    const p = Math.min(1, Math.max(0, probability));
    if (this.strict && p > 0) refuseInStrictMode('lost acks');
    this.dropAckProbability = p;
  }

  /** Whether the next channel's ack is lost (one draw per channel while acks are being lost). */
  ackLost(): boolean {
    return this.dropAckProbability > 0 && this.rng() < this.dropAckProbability;
  }

  // ---- the first status -----------------------------------------------------------------------

  setFirstStatus(status: FirstStatus): void {
    this.firstStatus = status;
  }

  /** The first frame of a new connection. */
  greet(s: Session): void {
    if (this.firstStatus === 'success') {
      if (this.ctx.sendEvents(s, [serverEvents.connectedSuccess()])) this.ctx.counters.counts.successGreetings++;
    } else {
      this.ctx.sendEvents(s, [serverEvents.connected()]);
    }
  }

  // ---- malformed frames -----------------------------------------------------------------------

  sendMalformed(kind: MalformedKind, which: Target): number {
    if (this.strict) refuseInStrictMode('a malformed frame');
    const targets = this.ctx.sessions.targets(which, true);
    for (const s of targets) {
      const sym = s.streams.A.symbols.values().next().value ?? 'AAPL';
      if (this.ctx.sendRaw(s, malformedFrame(kind, sym, Date.now()), true)) this.ctx.counters.counts.malformedSent++;
    }
    return targets.length;
  }

  setMalformedEvery(ms: number | null): void {
    if (this.strict && ms !== null && ms > 0) refuseInStrictMode('malformed frames');
    if (this.malformedTimer) clearInterval(this.malformedTimer);
    this.malformedTimer = null;
    if (ms !== null && ms > 0 && !this.ctx.isShuttingDown()) {
      this.malformedTimer = setInterval(() => {
        if (this.ctx.isSilent()) return;
        const kind = MALFORMED_KINDS[this.malformedTurn++ % MALFORMED_KINDS.length] ?? 'invalid_json';
        this.sendMalformed(kind, 'all');
      }, ms);
    }
  }
}
