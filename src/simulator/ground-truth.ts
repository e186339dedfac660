// The simulator's own record of what each connection asked for and had acknowledged: the ground
// truth tests and benchmarks compare a client's belief against.

import type { SessionRegistry, Session } from './session.js';

export interface ConnectionInfo {
  id: string;
  /** The key it authenticated with (null before a successful auth). Never log it. */
  apiKey: string | null;
  authenticated: boolean;
  openedAt: number;
  closedAt?: number;
  /** The code the server closed with, else the code the client closed with (1006: no close frame). */
  closeCode?: number;
}

export interface ClientMessageRecord {
  at: number;
  connId: string;
  action: 'auth' | 'subscribe' | 'unsubscribe' | 'malformed';
  channels: string[];
}

/** The last `size` client messages (a little more between trims: trimming is amortised). */
export class ClientMessageLog {
  private log: ClientMessageRecord[] = [];

  constructor(private readonly size: number) {}

  record(entry: ClientMessageRecord): void {
    this.log.push(entry);
    if (this.log.length > this.size * 1.1) this.log = this.log.slice(this.log.length - this.size);
  }

  all(): ClientMessageRecord[] {
    return this.log.slice();
  }
}

export function connectionInfo(s: Session): ConnectionInfo {
  const info: ConnectionInfo = { id: s.id, apiKey: s.apiKey, authenticated: s.authenticated, openedAt: s.openedAt };
  if (s.closedAt !== undefined) info.closedAt = s.closedAt;
  if (s.closeCode !== undefined) info.closeCode = s.closeCode;
  return info;
}

/** Each answer is a copy: the caller may keep or change it. */
export class GroundTruth {
  constructor(private readonly sessions: SessionRegistry) {}

  acknowledged(connId?: string): Set<string> {
    return new Set(this.sessions.pick(connId)?.acked ?? []);
  }

  subscriptions(connId?: string): Set<string> {
    return new Set(this.sessions.pick(connId)?.streams.A.symbols ?? []);
  }

  acknowledgedChannels(connId?: string): Set<string> {
    return new Set(this.sessions.pick(connId)?.ackedChannels ?? []);
  }

  channels(connId?: string): Set<string> {
    return new Set(this.sessions.pick(connId)?.activeChannels ?? []);
  }

  connections(): ConnectionInfo[] {
    return [...this.sessions.all()].map(connectionInfo);
  }
}
