// The market the simulator streams: its clock closes a window on every tick of the aggregate
// grid, trades it for the symbols someone streams, sends `T` and `Q` at once and `A` (with `AM`
// when a minute ends) after the lateness; `LULD` and `NOI` ride on the minute's close.

import { mulberry32 } from '../shared/prng.js';
import { AggregateBook, type AggregateEvent } from './aggregate-source.js';
import {
  CHANNEL_PREFIXES,
  MinuteFold,
  Sequencer,
  buildImbalance,
  buildLuld,
  buildQuote,
  buildTrades,
  type ChannelPrefix,
  type DataEvent,
  type MinuteAggregateEvent,
} from './events.js';
import type { SimulatorSettings } from './options.js';
import type { ServerContext } from './server-context.js';
import type { Session } from './session.js';

/** One closed window's events, by prefix and symbol, waiting to be handed to the connections that want them. */
type WindowEvents = Partial<Record<ChannelPrefix, Map<string, DataEvent[]>>>;

export class Market {
  /** The universe `X.*` streams, without repeats, in its order. */
  private readonly universe: ReadonlySet<string>;
  private readonly book = new AggregateBook();
  /** Its own stream for the lateness jitter, and one for the details (exchanges, sizes) of trades and quotes. */
  private readonly latenessRng: () => number;
  private readonly detailRng: () => number;
  private readonly seq = new Sequencer();
  private readonly minuteFold = new MinuteFold();
  /** The end of the minute the fold holds (0: none yet). */
  private minuteEnd = 0;
  /** Per symbol: the reference price of the last LULD band published. */
  private readonly luldReference = new Map<string, number>();
  private lastWindowEnd = 0;
  /** When the last window's aggregates were (or will be) delivered: windows never overtake each other. */
  private lastDeliveryAt = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  /** Aggregates waiting for their lateness to pass, oldest first, their times never decreasing. */
  private deliveryQueue: { at: number; events: WindowEvents }[] = [];
  private deliveryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly settings: SimulatorSettings,
  ) {
    this.universe = new Set(settings.universe);
    this.latenessRng = mulberry32(settings.seed ^ 0x165667b1);
    this.detailRng = mulberry32(settings.seed ^ 0x3c6ef372);
  }

  /** Starts the clock (an interval of 0 keeps the market closed). */
  start(): void {
    if (this.settings.aggregateIntervalMs > 0) this.armTick();
  }

  stop(): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.deliveryTimer) clearTimeout(this.deliveryTimer);
    this.tickTimer = this.deliveryTimer = null;
    this.deliveryQueue = [];
  }

  /** Arms the tick that closes the window ending at the next boundary of the aggregate grid. */
  private armTick(): void {
    if (this.ctx.isShuttingDown()) return;
    const interval = this.settings.aggregateIntervalMs;
    const now = Date.now();
    // Strictly after the last window: a timer may fire a millisecond before the wall clock agrees.
    let e = (Math.floor(now / interval) + 1) * interval;
    if (e <= this.lastWindowEnd) e = this.lastWindowEnd + interval;
    this.tickTimer = setTimeout(
      () => {
        this.tickTimer = null;
        this.closeWindow(e);
        this.armTick();
      },
      Math.max(0, e - now),
    );
  }

  /** The symbols some live authenticated connection streams, per prefix (`X.*`: the universe too). */
  private wanted(live: readonly Session[]): Record<ChannelPrefix, Set<string>> {
    const out = {} as Record<ChannelPrefix, Set<string>>;
    for (const p of CHANNEL_PREFIXES) {
      const set = new Set<string>();
      for (const c of live) {
        const stream = c.streams[p];
        if (stream.wildcard) for (const sym of this.universe) set.add(sym);
        for (const sym of stream.symbols) set.add(sym);
      }
      out[p] = set;
    }
    return out;
  }

  /** One aggregate per wanted symbol the price source trades in [s, e). */
  private trade(wanted: Record<ChannelPrefix, Set<string>>, s: number, e: number): Map<string, AggregateEvent> {
    const now = Date.now();
    // Each symbol asked once, however many prefixes want it: one that has no trade or fails stays so.
    const symbols = new Set<string>();
    for (const p of CHANNEL_PREFIXES) for (const sym of wanted[p]) symbols.add(sym);
    const aggregates = new Map<string, AggregateEvent>();
    for (const sym of symbols) {
      try {
        const trade = this.settings.priceSource(sym, now);
        const ev = trade ? this.book.build(sym, s, e, trade) : undefined;
        if (ev) aggregates.set(sym, ev);
      } catch (err) {
        this.ctx.log.warn({ event: 'simulator_price_source_failed', symbol: sym, err: (err as Error).message });
      }
    }
    return aggregates;
  }

  /**
   * The window [e - aggregateIntervalMs, e) is over: the market trades it for the symbols someone
   * streams, `T` and `Q` go out at once, `A` (and `AM` when a minute ends here) after the lateness.
   */
  private closeWindow(e: number): void {
    this.lastWindowEnd = e;
    const s = e - this.settings.aggregateIntervalMs;
    const live = this.ctx.isSilent() ? [] : this.ctx.sessions.liveAuthenticated();
    const wanted = this.wanted(live);
    const aggregates = this.trade(wanted, s, e);

    const prompt: WindowEvents = {};
    const later: WindowEvents = {};
    if (aggregates.size > 0) {
      const of = (p: ChannelPrefix, build: (agg: AggregateEvent) => DataEvent[]): Map<string, DataEvent[]> => {
        const m = new Map<string, DataEvent[]>();
        for (const sym of wanted[p]) {
          const agg = aggregates.get(sym);
          if (agg) m.set(sym, build(agg));
        }
        return m;
      };
      later.A = of('A', (agg) => [agg]);
      prompt.T = of('T', (agg) => buildTrades(agg, this.detailRng, this.seq));
      prompt.Q = of('Q', (agg) => [buildQuote(agg, this.detailRng, this.seq)]);
    }

    const minute = this.settings.minuteIntervalMs;
    if (minute > 0) {
      const minuteEnd = (Math.floor(s / minute) + 1) * minute;
      // A minute no tick reached (the timer was starved): close it now rather than mix it in.
      if (this.minuteEnd > 0 && this.minuteEnd !== minuteEnd) this.closeMinute(this.minuteEnd, wanted, prompt, later);
      this.minuteEnd = minuteEnd;
      const folded = new Set([...wanted.AM, ...wanted.LULD, ...wanted.NOI]);
      for (const sym of folded) {
        const agg = aggregates.get(sym);
        if (agg) this.minuteFold.add(agg);
      }
      if (e >= minuteEnd) this.closeMinute(minuteEnd, wanted, prompt, later);
    }

    this.deliver(prompt, ['T', 'Q', 'LULD', 'NOI']);
    if (later.A?.size || later.AM?.size) this.deliverAfterLateness(e, later);
  }

  /** The minute ending at `end` is over: its `AM` events join the aggregates, `LULD` and `NOI` go out at once. */
  private closeMinute(end: number, wanted: Record<ChannelPrefix, Set<string>>, prompt: WindowEvents, later: WindowEvents): void {
    this.minuteEnd = 0;
    if (this.minuteFold.size === 0) return;
    const minutes = this.minuteFold.drain(end - this.settings.minuteIntervalMs, end);
    // Merged into what the window holds already (a starved timer may close two minutes in one tick).
    const pick = (into: WindowEvents, p: ChannelPrefix, build: (am: MinuteAggregateEvent) => DataEvent[] | null): void => {
      const m = into[p] ?? new Map<string, DataEvent[]>();
      for (const sym of wanted[p]) {
        const am = minutes.get(sym);
        const evs = am ? build(am) : null;
        if (evs && evs.length > 0) m.set(sym, [...(m.get(sym) ?? []), ...evs]);
      }
      into[p] = m;
    };
    pick(later, 'AM', (am) => [am]);
    // A band is published when its reference price moved 1% or more since the last one, as the SIP does.
    pick(prompt, 'LULD', (am) => {
      const ref = this.luldReference.get(am.sym);
      if (ref !== undefined && Math.abs(am.c - ref) < ref * 0.01) return null;
      this.luldReference.set(am.sym, am.c);
      return [buildLuld(am.sym, am.c, end, this.seq)];
    });
    // The real server publishes imbalances only in the minutes before an auction; the simulator has
    // no session calendar and publishes one per minute for each symbol that traded in it.
    pick(prompt, 'NOI', (am) => [buildImbalance(am, this.detailRng, this.seq)]);
  }

  /** Aggregates of the window ending at `e`: delivered at e + lateness, never before an earlier window's. */
  private deliverAfterLateness(e: number, events: WindowEvents): void {
    const { minMs, maxMs } = this.settings.lateness;
    const delay = maxMs > minMs ? minMs + (maxMs - minMs) * this.latenessRng() : minMs;
    const at = Math.max(e + delay, this.lastDeliveryAt);
    this.lastDeliveryAt = at;
    this.deliveryQueue.push({ at, events });
    this.pumpDeliveries();
  }

  /** Delivers what is due; the queue's times never decrease, so one timer for its head suffices. */
  private pumpDeliveries(): void {
    if (this.deliveryTimer || this.ctx.isShuttingDown()) return;
    const now = Date.now();
    while (this.deliveryQueue[0] && this.deliveryQueue[0].at <= now) {
      const due = this.deliveryQueue.shift();
      if (due) this.deliver(due.events, ['A', 'AM']);
    }
    const head = this.deliveryQueue[0];
    if (!head) return;
    this.deliveryTimer = setTimeout(() => {
      this.deliveryTimer = null;
      this.pumpDeliveries();
    }, head.at - now);
  }

  /**
   * Hands each live authenticated connection the events of the prefixes it streams, in one frame.
   * Subscriptions are read now, not when the window closed: nothing reaches a connection for a
   * channel whose unsubscribe was acknowledged before the frame leaves.
   */
  private deliver(events: WindowEvents, prefixes: readonly ChannelPrefix[]): void {
    if (this.ctx.isSilent()) return;
    // A symbol's events are encoded once per window, however many connections stream them.
    const encoded = new Map<DataEvent[], string>();
    for (const conn of this.ctx.sessions.liveAuthenticated()) {
      const out: DataEvent[] = [];
      const parts: string[] = [];
      for (const p of prefixes) {
        const bySymbol = events[p];
        if (!bySymbol || bySymbol.size === 0) continue;
        const take = (sym: string): void => {
          const evs = bySymbol.get(sym);
          if (!evs || evs.length === 0) return;
          let text = encoded.get(evs);
          if (text === undefined) {
            text = JSON.stringify(evs).slice(1, -1);
            encoded.set(evs, text);
          }
          out.push(...evs);
          parts.push(text);
        };
        const stream = conn.streams[p];
        if (stream.wildcard) {
          for (const sym of this.universe) take(sym);
          for (const sym of stream.symbols) if (!this.universe.has(sym)) take(sym);
        } else {
          for (const sym of stream.symbols) take(sym);
        }
      }
      if (out.length === 0 || !this.ctx.sendRaw(conn, `[${parts.join(',')}]`)) continue;
      this.ctx.counters.countDelivered(out);
    }
  }
}
