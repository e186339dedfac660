// One client connection as the simulator keeps it (its socket, auth, subscriptions, pending acks
// and timers), the server's way to close one, and the registry of them all.

import { WebSocket } from 'ws';
import type { Logger } from '../shared/logger.js';
import { AckQueue, emptySubscriptions, type Subscriptions } from './ack-queue.js';
import type { Target } from './options.js';

export interface Session extends Subscriptions {
  id: string;
  ws: WebSocket;
  apiKey: string | null;
  authenticated: boolean;
  openedAt: number;
  closedAt?: number;
  closeCode?: number;
  /** The server decided to close it: it is no longer live whatever the socket's state. */
  closing: boolean;
  serverCloseCode?: number;
  serverCloseReason?: string;
  acks: AckQueue;
  ackTimer: NodeJS.Timeout | null;
  authTimer: NodeJS.Timeout | null;
  killTimer: NodeJS.Timeout | null;
  youngTimer: NodeJS.Timeout | null;
  /** Monotonic arrival times of the subscribe/unsubscribe messages of the last second, oldest first. */
  controlTimes: number[];
  /** A ping went out and no pong came back yet: at the next ping the peer is declared dead. */
  awaitingPong?: boolean;
}

/** How long a closing socket may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

export function isLive(s: Session): boolean {
  return !s.closing && s.closedAt === undefined && s.ws.readyState === WebSocket.OPEN;
}

export function clearSessionTimers(s: Session): void {
  if (s.authTimer) clearTimeout(s.authTimer);
  if (s.ackTimer) clearTimeout(s.ackTimer);
  if (s.killTimer) clearTimeout(s.killTimer);
  if (s.youngTimer) clearTimeout(s.youngTimer);
  s.authTimer = s.ackTimer = s.killTimer = s.youngTimer = null;
}

/** The server closes it with `code`; a client that never answers the close frame is cut after a grace. */
export function closeSession(s: Session, code: number, reason: string, log: Logger): void {
  if (s.closing || s.closedAt !== undefined) return;
  s.closing = true;
  s.serverCloseCode = code;
  s.serverCloseReason = reason;
  if (s.authTimer) clearTimeout(s.authTimer);
  if (s.ackTimer) clearTimeout(s.ackTimer);
  if (s.youngTimer) clearTimeout(s.youngTimer);
  s.authTimer = s.ackTimer = s.youngTimer = null;
  s.acks.clear();
  log.debug({ event: 'simulator_closing', connId: s.id, code, reason });
  try {
    s.ws.close(code, reason);
  } catch {
    s.ws.terminate();
  }
  // A client that never answers the close frame (a dead one) is cut, as the real server would.
  s.killTimer = setTimeout(() => {
    s.killTimer = null;
    s.ws.terminate();
  }, CLOSE_GRACE_MS);
}

/** Every connection since start (closed ones too, bounded), in the order they opened. */
export class SessionRegistry {
  private readonly byId = new Map<string, Session>();
  private nextId = 1;

  open(ws: WebSocket, now: number): Session {
    const s: Session = {
      id: `c${this.nextId++}`,
      ws,
      apiKey: null,
      authenticated: false,
      openedAt: now,
      closing: false,
      ...emptySubscriptions(),
      acks: new AckQueue(),
      ackTimer: null,
      authTimer: null,
      killTimer: null,
      youngTimer: null,
      controlTimes: [],
    };
    this.byId.set(s.id, s);
    this.prune();
    return s;
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }

  openCount(): number {
    let open = 0;
    for (const s of this.byId.values()) if (s.closedAt === undefined) open++;
    return open;
  }

  liveAuthenticated(): Session[] {
    return [...this.byId.values()].filter((s) => s.authenticated && isLive(s));
  }

  /** The newest live authenticated connection. */
  newestLive(): Session | undefined {
    let newest: Session | undefined;
    for (const s of this.byId.values()) if (s.authenticated && isLive(s)) newest = s;
    return newest;
  }

  /** The given one, or the newest live authenticated one. */
  pick(id: string | undefined): Session | undefined {
    return id === undefined ? this.newestLive() : this.byId.get(id);
  }

  /** The live connections a fault aimed at `which` applies to. */
  targets(which: Target, authenticatedOnly: boolean): Session[] {
    const live = [...this.byId.values()].filter((s) => isLive(s) && (!authenticatedOnly || s.authenticated));
    return which === 'all' ? live : live.filter((s) => s.id === which);
  }

  /** Keeps the records of closed connections bounded over a long run of reconnects. */
  private prune(): void {
    if (this.byId.size <= 10_000) return;
    for (const [id, s] of this.byId) {
      if (this.byId.size <= 9_000) break;
      if (s.closedAt !== undefined) this.byId.delete(id);
    }
  }
}
