import type { InspectionEvent, Observer, StateValue } from 'xstate';

// What the dashboard's diagrams light up: the state each statechart of this process is in now,
// read from the machines' own inspection events (the same stream the Stately inspector gets), so
// it needs no network and no change to any machine. Pure: a clock is passed in, nothing is sent
// anywhere; the role that owns a status document publishes `states()` with it.

export interface MachineState {
  value: StateValue;
  /** The actor's status: active, done, error. */
  status: string;
  /** When the value last changed (ISO 8601). */
  since: string;
}

/** Machine id (`polygonWs`, `connection`, `scanner`…) -> its current state. */
export type MachineStates = Record<string, MachineState>;

export interface MachineStateRecorder {
  /** Pass as (or combine into) `createActor(machine, { inspect })`. */
  observe(ev: InspectionEvent): void;
  states(): MachineStates;
}

interface Entry extends MachineState {
  machineId: string;
  changedAt: number;
}

interface MachineSnapshotLike {
  value: StateValue;
  status: string;
  machine: { id: string };
  children?: Record<string, unknown>;
}

function machineSnapshot(s: unknown): MachineSnapshotLike | null {
  if (!s || typeof s !== 'object') return null;
  const o = s as Partial<MachineSnapshotLike>;
  const id = o.machine && typeof o.machine === 'object' ? o.machine.id : undefined;
  if (typeof id !== 'string' || o.value === undefined || typeof o.status !== 'string') return null;
  return o as MachineSnapshotLike;
}

export function createMachineStateRecorder(now: () => number = Date.now): MachineStateRecorder {
  // By session id: one entry per live machine actor.
  const entries = new Map<string, Entry>();
  // Child session -> parent session, learnt from the parent's `snapshot.children` (XState's public
  // view of an actor's children), since a child's own events do not name its parent.
  const parentOf = new Map<string, string>();

  const forget = (session: string) => {
    entries.delete(session);
    parentOf.delete(session);
    for (const [child, parent] of parentOf) if (parent === session) forget(child);
  };
  // A stopped child sends no event of its own: it is gone when its parent's children no longer hold it.
  const adoptChildren = (parent: string, children: Record<string, unknown>) => {
    const present = new Set<string>();
    for (const ref of Object.values(children)) {
      const session = sessionOf(ref);
      if (session === null) continue;
      present.add(session);
      parentOf.set(session, parent);
    }
    for (const [child, p] of parentOf) if (p === parent && !present.has(child)) forget(child);
  };

  return {
    observe(ev) {
      if (ev.type !== '@xstate.snapshot') return;
      const snap = machineSnapshot(ev.snapshot);
      if (!snap) return;
      const session = ev.actorRef.sessionId;
      const before = entries.get(session);
      const changed = !before || before.status !== snap.status || JSON.stringify(before.value) !== JSON.stringify(snap.value);
      const t = changed ? now() : (before?.changedAt ?? now());
      entries.set(session, { machineId: snap.machine.id, value: snap.value, status: snap.status, since: new Date(t).toISOString(), changedAt: t });
      if (snap.children) adoptChildren(session, snap.children);
    },
    states() {
      const out: MachineStates = {};
      // Two actors of one machine (tests run several roles in a process): the latest change wins.
      const sorted = [...entries.values()].sort((a, b) => a.changedAt - b.changedAt);
      for (const e of sorted) out[e.machineId] = { value: e.value, status: e.status, since: e.since };
      return out;
    },
  };
}

function sessionOf(ref: unknown): string | null {
  if (!ref || typeof ref !== 'object') return null;
  const session = (ref as { sessionId?: unknown }).sessionId;
  return typeof session === 'string' ? session : null;
}

type InspectTarget = Observer<InspectionEvent> | ((ev: InspectionEvent) => void);

/** One `inspect` for createActor that feeds several (the Stately relay and the recorder). */
export function combineInspectors(...targets: (InspectTarget | null | undefined)[]): (ev: InspectionEvent) => void {
  const fns = targets
    .filter((t): t is InspectTarget => t !== null && t !== undefined)
    .map((t) => (typeof t === 'function' ? t : (ev: InspectionEvent) => t.next?.(ev)));
  return (ev) => {
    for (const f of fns) f(ev);
  };
}
