// The simulator's counters: one record of everything it counted, read as a SimulatorStats.

import type { DataEvent } from './events.js';

export interface SimulatorStats {
  connectionsTotal: number;
  openConnections: number;
  authSuccess: number;
  authFailed: number;
  authTimeouts: number;
  closesByCode: Record<string, number>;
  maxConnectionsKicks: number;
  slowConsumerDrops: number;
  forceDisconnects: number;
  floodCloses: number;
  /** Connections closed by the 1008 schedule, fixed or jittered. */
  scheduled1008Closes: number;
  /** Connections closed for reaching the dieYoungAfterMs age. */
  youngDeaths: number;
  /** Connections greeted with the `success` variant of the first status. */
  successGreetings: number;
  subscribeMessages: number;
  unsubscribeMessages: number;
  /** Channels of accepted subscribe messages, duplicates included. */
  channelsSubscribed: number;
  channelsUnsubscribed: number;
  /** The most channels seen in one subscribe or unsubscribe message. */
  maxChannelsPerMessage: number;
  refusedNotAuthorized: number;
  invalidChannels: number;
  messagesReceived: number;
  malformedClientMessages: number;
  acksSent: number;
  acksDropped: number;
  /** `A` events sent. */
  aggregatesSent: number;
  /** `AM` events sent. */
  minuteAggregatesSent: number;
  tradesSent: number;
  quotesSent: number;
  luldSent: number;
  imbalancesSent: number;
  framesSent: number;
  malformedSent: number;
  pingsSent: number;
  pongsReceived: number;
  /** Connections dropped for answering no ping within an interval. */
  deadPeersDropped: number;
  /** Live authenticated connections now, across all keys. */
  authenticatedNow: number;
  /** The highest number of simultaneously authenticated connections ever, across all keys. */
  maxConcurrentAuthenticated: number;
}

/** The figures that are counted (the others are read off the connections when asked). */
export type SimulatorCounts = Record<Exclude<keyof SimulatorStats, 'openConnections' | 'authenticatedNow' | 'closesByCode'>, number>;

export class SimulatorCounters {
  readonly counts: SimulatorCounts = {
    connectionsTotal: 0,
    authSuccess: 0,
    authFailed: 0,
    authTimeouts: 0,
    maxConnectionsKicks: 0,
    slowConsumerDrops: 0,
    forceDisconnects: 0,
    floodCloses: 0,
      scheduled1008Closes: 0,
    youngDeaths: 0,
    successGreetings: 0,
    subscribeMessages: 0,
    unsubscribeMessages: 0,
    channelsSubscribed: 0,
    channelsUnsubscribed: 0,
    maxChannelsPerMessage: 0,
    refusedNotAuthorized: 0,
    invalidChannels: 0,
    messagesReceived: 0,
    malformedClientMessages: 0,
    acksSent: 0,
    acksDropped: 0,
    aggregatesSent: 0,
    minuteAggregatesSent: 0,
    tradesSent: 0,
    quotesSent: 0,
    luldSent: 0,
    imbalancesSent: 0,
    framesSent: 0,
    malformedSent: 0,
    pingsSent: 0,
    pongsReceived: 0,
    deadPeersDropped: 0,
    maxConcurrentAuthenticated: 0,
  };
  private readonly closesByCode: Record<string, number> = {};

  countClose(code: number): void {
    const key = String(code);
    this.closesByCode[key] = (this.closesByCode[key] ?? 0) + 1;
  }

  /** Raises a high-water mark. */
  raise(figure: 'maxChannelsPerMessage' | 'maxConcurrentAuthenticated', value: number): void {
    this.counts[figure] = Math.max(this.counts[figure], value);
  }

  /** Data events that left in a frame, by type. */
  countDelivered(events: readonly DataEvent[]): void {
    for (const ev of events) {
      if (ev.ev === 'A') this.counts.aggregatesSent++;
      else if (ev.ev === 'AM') this.counts.minuteAggregatesSent++;
      else if (ev.ev === 'T') this.counts.tradesSent++;
      else if (ev.ev === 'Q') this.counts.quotesSent++;
      else if (ev.ev === 'LULD') this.counts.luldSent++;
      else this.counts.imbalancesSent++;
    }
  }

  snapshot(openConnections: number, authenticatedNow: number): SimulatorStats {
    return { ...this.counts, openConnections, authenticatedNow, closesByCode: { ...this.closesByCode } };
  }
}
