// What a browser that connects to the inspector relay late must see: who exists, in what state,
// and what just happened. Pure: messages in, messages out.
//
// Each actor's registration is kept with its latest snapshot, however long the storm of events
// since; a child actor that finished is forgotten; beyond `maxActors` the oldest child goes first
// (a root actor only when no child is left). The last `replayEvents` messages are kept besides.

/** What the cache needs to know of a message (it keeps the message itself as text). */
export interface RelayedMeta {
  type: string;
  sessionId: string;
  parentId?: string;
  status?: string;
}

interface ActorEntry {
  actor: string;
  parentId: string | undefined;
  snapshot: string | null;
}

export class ReplayCache {
  private readonly actors = new Map<string, ActorEntry>();
  private readonly recent: string[] = [];

  constructor(private readonly limits: { replayEvents: number; maxActors: number }) {}

  remember(msg: string, meta: RelayedMeta): void {
    if (meta.type === '@xstate.actor') {
      this.actors.delete(meta.sessionId);
      this.actors.set(meta.sessionId, { actor: msg, parentId: meta.parentId, snapshot: null });
      if (this.actors.size > this.limits.maxActors) this.forgetOneActor();
      return;
    }
    if (meta.type === '@xstate.snapshot') {
      const a = this.actors.get(meta.sessionId);
      if (a && a.parentId !== undefined && (meta.status === 'done' || meta.status === 'error' || meta.status === 'stopped')) {
        this.actors.delete(meta.sessionId);
      } else if (a) {
        a.snapshot = msg;
      }
    }
    this.recent.push(msg);
    if (this.recent.length > this.limits.replayEvents) this.recent.splice(0, this.recent.length - this.limits.replayEvents);
  }

  /** In order: every registration, then every latest snapshot, then the recent messages. */
  replay(): string[] {
    const out: string[] = [];
    for (const a of this.actors.values()) out.push(a.actor);
    for (const a of this.actors.values()) if (a.snapshot) out.push(a.snapshot);
    out.push(...this.recent);
    return out;
  }

  clear(): void {
    this.actors.clear();
    this.recent.length = 0;
  }

  private forgetOneActor(): void {
    for (const [id, a] of this.actors) {
      if (a.parentId !== undefined) {
        this.actors.delete(id);
        return;
      }
    }
    const first = this.actors.keys().next();
    if (!first.done) this.actors.delete(first.value);
  }
}
