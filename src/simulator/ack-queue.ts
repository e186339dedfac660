// The acknowledgement queue of one connection, and what applying its operations does to the
// connection's subscriptions. Pure: the clock, the lost-ack draw and the sending are the caller's.
//
// Each subscribe/unsubscribe message becomes one operation due `ackDelayMs` after it arrived, but
// never before an earlier message's (the delay may be lowered meanwhile): acks keep the order of
// the messages. A due operation is applied whether or not its ack is lost: the server streams for
// what it applied; the client only knows what was acknowledged.

import { AGGREGATE_EVENT, serverEvents, symbolOfChannel } from '../upstream/codec.js';
import { CHANNEL_PREFIXES, isChannelPrefix, type ChannelPrefix } from './events.js';

export interface PendingOp {
  dueAt: number;
  action: 'subscribe' | 'unsubscribe';
  channels: string[];
}

export class AckQueue {
  private pending: PendingOp[] = [];
  private lastDueAt = 0;

  /** Queues a message's operation; true when it is due at once with nothing ahead of it. */
  push(now: number, delayMs: number, action: PendingOp['action'], channels: string[]): boolean {
    const dueAt = Math.max(now + delayMs, this.lastDueAt);
    this.lastDueAt = dueAt;
    this.pending.push({ dueAt, action, channels });
    return dueAt <= now && this.pending.length === 1;
  }

  /** When the oldest operation is due, if any is waiting. */
  nextDueAt(): number | undefined {
    return this.pending[0]?.dueAt;
  }

  /** Removes and returns the operations due by `now`, oldest first. */
  takeDue(now: number): PendingOp[] {
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as PendingOp).dueAt <= now) n++;
    return this.pending.splice(0, n);
  }

  /** Forgets what waits (a closing connection acknowledges nothing more). */
  clear(): void {
    this.pending = [];
  }

  get size(): number {
    return this.pending.length;
  }
}

export interface Stream {
  symbols: Set<string>;
  wildcard: boolean;
}

/** What a connection is subscribed to, as the server applies it and as it acknowledged it. */
export interface Subscriptions {
  /** Channels the server applies (data flows for them), acknowledged or not. */
  activeChannels: Set<string>;
  /** The same, per prefix: the explicit symbols and whether `X.*` is on. */
  streams: Record<ChannelPrefix, Stream>;
  /** A symbols whose subscribe ack reached the wire and that were not unsubscribed since. */
  acked: Set<string>;
  /** Every channel (any prefix, `X.*` included) whose subscribe ack reached the wire and that was not unsubscribed since. */
  ackedChannels: Set<string>;
}

export function emptySubscriptions(): Subscriptions {
  const streams = {} as Record<ChannelPrefix, Stream>;
  for (const p of CHANNEL_PREFIXES) streams[p] = { symbols: new Set(), wildcard: false };
  return { activeChannels: new Set(), streams, acked: new Set(), ackedChannels: new Set() };
}

export const statusError = (message: string) => ({ ev: 'status', status: 'error', message });

export function parseChannel(channel: string): { ev: ChannelPrefix; symbol: string } | null {
  const dot = channel.indexOf('.');
  if (dot <= 0) return null;
  const ev = channel.slice(0, dot);
  if (!isChannelPrefix(ev)) return null;
  if (channel.slice(dot + 1) === '*') return { ev, symbol: '*' };
  const symbol = symbolOfChannel(channel, ev);
  return symbol ? { ev, symbol } : null;
}

export interface AppliedOps {
  /** The frame to send: acks, and an error status per invalid channel. */
  events: object[];
  /** A symbols acknowledged (subscribed) and acknowledged gone (unsubscribed), in order. */
  subscribed: string[];
  unsubscribed: string[];
  acksSent: number;
  acksDropped: number;
  invalidChannels: number;
}

/**
 * Applies due operations to `subs`. `lost()` is asked once per valid channel, in order, whether
 * its ack is lost.
 */
export function applyOps(subs: Subscriptions, ops: readonly PendingOp[], lost: () => boolean): AppliedOps {
  const out: AppliedOps = { events: [], subscribed: [], unsubscribed: [], acksSent: 0, acksDropped: 0, invalidChannels: 0 };
  for (const op of ops) {
    for (const channel of op.channels) {
      const parsed = parseChannel(channel);
      if (!parsed) {
        out.invalidChannels++;
        out.events.push(statusError(`invalid channel: ${channel.slice(0, 40)}`));
        continue;
      }
      const aSymbol = parsed.ev === AGGREGATE_EVENT && parsed.symbol !== '*' ? parsed.symbol : null;
      const stream = subs.streams[parsed.ev];
      const isLost = lost();
      if (op.action === 'subscribe') {
        subs.activeChannels.add(channel);
        if (parsed.symbol === '*') stream.wildcard = true;
        else stream.symbols.add(parsed.symbol);
        if (isLost) {
          out.acksDropped++;
          continue;
        }
        out.events.push(serverEvents.subscribed(channel));
        out.acksSent++;
        subs.ackedChannels.add(channel);
        if (aSymbol !== null) {
          subs.acked.add(aSymbol);
          out.subscribed.push(aSymbol);
        }
      } else {
        subs.activeChannels.delete(channel);
        subs.ackedChannels.delete(channel);
        if (parsed.symbol === '*') stream.wildcard = false;
        else stream.symbols.delete(parsed.symbol);
        if (aSymbol !== null) subs.acked.delete(aSymbol);
        if (isLost) {
          out.acksDropped++;
          continue;
        }
        out.events.push(serverEvents.unsubscribed(channel));
        out.acksSent++;
        if (aSymbol !== null) out.unsubscribed.push(aSymbol);
      }
    }
  }
  return out;
}
