// What a connection says and what the server answers: auth within its deadline (one connection
// per key: the newcomer wins), subscribe/unsubscribe through the connection's ack queue, and the
// bookkeeping of its close. Faults that bear on a session (the control-message limit, young
// deaths, lost and slow acks, kicks) are asked of `faults`.

import type { RawData } from 'ws';
import { decodeClientMessage, serverEvents, splitChannels, symbolOfChannel } from '../upstream/codec.js';
import { applyOps, statusError, type PendingOp } from './ack-queue.js';
import type { Faults } from './faults.js';
import type { ClientMessageLog, ClientMessageRecord } from './ground-truth.js';
import type { ServerContext } from './server-context.js';
import { clearSessionTimers, closeSession, isLive, type Session } from './session.js';

export interface SessionProtocolDeps {
  ctx: ServerContext;
  faults: Faults;
  clientLog: ClientMessageLog;
  apiKeys: ReadonlySet<string>;
  authTimeoutMs: number;
}

function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export class SessionProtocol {
  private readonly ctx: ServerContext;
  private readonly faults: Faults;

  constructor(private readonly deps: SessionProtocolDeps) {
    this.ctx = deps.ctx;
    this.faults = deps.faults;
  }

  /** No auth within the deadline: status error, then 1008. */
  armAuthTimeout(s: Session): void {
    s.authTimer = setTimeout(() => {
      s.authTimer = null;
      if (this.ctx.isSilent() || s.authenticated) return;
      this.ctx.counters.counts.authTimeouts++;
      this.ctx.sendEvents(s, [serverEvents.authTimeout()]);
      closeSession(s, 1008, 'no authentication', this.ctx.log);
    }, this.deps.authTimeoutMs);
  }

  onMessage(s: Session, data: RawData): void {
    const { counts } = this.ctx.counters;
    counts.messagesReceived++;
    const msg = decodeClientMessage(rawToText(data));
    if (!msg) {
      counts.malformedClientMessages++;
      this.record(s, 'malformed', []);
      // Neither the frame nor a sample of it is logged: it may hold a key.
      this.ctx.log.warn({ event: 'simulator_client_message_malformed', connId: s.id });
      if (!this.ctx.isSilent()) this.ctx.sendEvents(s, [statusError('invalid message')]);
      return;
    }
    const channels = msg.action === 'auth' ? [] : splitChannels(msg.params);
    this.record(s, msg.action, channels);
    if (this.ctx.isSilent() || s.closing) return;

    if (msg.action === 'auth') {
      this.onAuth(s, msg.params);
      return;
    }
    if (this.faults.flooded(s)) return;
    if (!s.authenticated) {
      counts.refusedNotAuthorized++;
      this.ctx.sendEvents(s, [serverEvents.notAuthorized()]);
      return;
    }
    this.ctx.counters.raise('maxChannelsPerMessage', channels.length);
    if (msg.action === 'subscribe') {
      counts.subscribeMessages++;
      counts.channelsSubscribed += channels.length;
      const symbols = channels.map((c) => symbolOfChannel(c)).filter((sym): sym is string => sym !== null);
      this.ctx.emit('subscribeRequested', s.id, symbols, Date.now());
    } else {
      counts.unsubscribeMessages++;
      counts.channelsUnsubscribed += channels.length;
    }
    if (channels.length > 0) this.enqueue(s, msg.action, channels);
  }

  /** The socket closed, whoever started it. */
  onClose(s: Session, code: number, reason: string): void {
    const now = Date.now();
    clearSessionTimers(s);
    s.acks.clear();
    s.closing = true;
    s.closedAt = now;
    s.closeCode = s.serverCloseCode ?? code;
    this.ctx.counters.countClose(s.closeCode);
    const closeReason = s.serverCloseReason ?? reason;
    this.ctx.log.debug({ event: 'simulator_connection_closed', connId: s.id, code: s.closeCode, reason: closeReason });
    this.ctx.emit('closed', s.id, s.closeCode, now, closeReason);
  }

  /** Applies every due operation and sends all their acks in one frame. */
  flushAcks(s: Session): void {
    if (this.ctx.isSilent() || !isLive(s)) return;
    const now = Date.now();
    const applied = applyOps(s, s.acks.takeDue(now), () => this.faults.ackLost());
    const { counts } = this.ctx.counters;
    counts.invalidChannels += applied.invalidChannels;
    counts.acksDropped += applied.acksDropped;
    counts.acksSent += applied.acksSent;
    if (applied.events.length > 0) this.ctx.sendEvents(s, applied.events);
    if (applied.subscribed.length > 0) this.ctx.emit('subscribed', s.id, applied.subscribed, now);
    if (applied.unsubscribed.length > 0) this.ctx.emit('unsubscribed', s.id, applied.unsubscribed, now);
    this.scheduleAckFlush(s);
  }

  private record(s: Session, action: ClientMessageRecord['action'], channels: string[]): void {
    this.deps.clientLog.record({ at: Date.now(), connId: s.id, action, channels });
  }

  private onAuth(s: Session, key: string): void {
    if (s.authenticated) {
      this.ctx.sendEvents(s, [serverEvents.authSuccess()]);
      return;
    }
    if (s.authTimer) clearTimeout(s.authTimer);
    s.authTimer = null;
    const { counts } = this.ctx.counters;
    if (!this.deps.apiKeys.has(key)) {
      counts.authFailed++;
      this.ctx.log.info({ event: 'simulator_auth_failed', connId: s.id });
      this.ctx.sendEvents(s, [serverEvents.authFailed()]);
      closeSession(s, 1008, 'authentication failed', this.ctx.log);
      return;
    }
    s.authenticated = true;
    s.apiKey = key;
    counts.authSuccess++;
    this.ctx.sendEvents(s, [serverEvents.authSuccess()]);
    this.faults.armDieYoung(s);
    const live = this.ctx.sessions.liveAuthenticated();
    this.ctx.counters.raise('maxConcurrentAuthenticated', live.length);
    this.ctx.emit('authenticated', s.id, Date.now());
    // One connection per key: the newcomer wins, every older one on the key is kicked.
    for (const other of live) if (other !== s && other.apiKey === key) this.faults.kick(other);
  }

  private enqueue(s: Session, action: PendingOp['action'], channels: string[]): void {
    // Never before an earlier message's acks, even if the delay was lowered meanwhile.
    if (s.acks.push(Date.now(), this.faults.ackDelayMs, action, channels)) this.flushAcks(s);
    else this.scheduleAckFlush(s);
  }

  private scheduleAckFlush(s: Session): void {
    if (s.ackTimer) clearTimeout(s.ackTimer);
    s.ackTimer = null;
    const dueAt = s.acks.nextDueAt();
    if (dueAt === undefined || s.closing) return;
    s.ackTimer = setTimeout(
      () => {
        s.ackTimer = null;
        this.flushAcks(s);
      },
      Math.max(0, dueAt - Date.now()),
    );
  }
}
