import { expect } from 'vitest';
import {
  SimulatedClock,
  createActor,
  createMachine,
  fromCallback,
  getNextTransitions,
  getStateNodes,
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

// Model-based testing of a production machine, on a real actor and XState's simulated clock.
//
// A breadth-first walk over what the actor really does: from every reached state, every event,
// and TICK: "let time pass until the next armed timer fires". Time is never faked with a
// synthetic `xstate.after…` event: the clock advances by the very delay the machine armed, and
// that delay is checked against the settings (`delays`). A state is its value plus whatever
// context the test names (`key`), so paths that differ only in context (a strike count, a second
// kick, a stale hint) are explored too, up to `maxDepth` steps.
//
// Everything is observed through XState's public inspection API (`@xstate.microstep`,
// `@xstate.action`) and `getNextTransitions` / `getStateNodes`: the transitions taken (eventless
// ones counted apart), the events emitted and the messages sent, per step. `step` asserts the
// outputs of each transition, `check` what each reached state promises; the walk fails if a
// transition or a state of the definition was never reached.

export const TICK = { type: 'TICK' } as const;

export function transitionKey(t: AnyTransitionDefinition): string {
  const targets = (t.target ?? []).map((n) => n.id).join(',');
  const guard = t.guard ? (typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string }).type ?? 'inline')) : '';
  return `${t.source.id} --${t.eventType || 'always'}${guard ? ` [${guard}]` : ''}--> ${targets || '(self)'}`;
}

function visit(machine: AnyStateMachine, f: (node: DirectedGraphNode) => void): void {
  const go = (node: DirectedGraphNode) => {
    f(node);
    node.children.forEach(go);
  };
  go(toDirectedGraph(machine));
}

/** Every transition the machine defines, keyed as `transitionKey` keys them. */
export function definedTransitions(machine: AnyStateMachine): Set<string> {
  const out = new Set<string>();
  visit(machine, (node) => node.edges.forEach((e) => out.add(transitionKey(e.transition))));
  return out;
}

export function allStateIds(machine: AnyStateMachine): Set<string> {
  const out = new Set<string>();
  visit(machine, (node) => out.add(node.id));
  return out;
}

export interface Sent {
  /** The system id (or actor id) of the receiver. */
  to: string;
  event: AnyEventObject;
}

/** What one step did, observed. */
export interface StepRecord {
  event: AnyEventObject;
  /** Transitions taken, as `transitionKey` keys them. */
  transitions: string[];
  eventless: number;
  emitted: AnyEventObject[];
  sent: Sent[];
  /** Timers armed by the step: the after-event and its delay. */
  armed: { type: string; delay: number }[];
  /** For TICK: the timer that fired and after how long. */
  fired?: { type: string; afterMs: number };
  before: AnyMachineSnapshot;
  after: AnyMachineSnapshot;
}

export interface WalkOptions {
  machine: AnyStateMachine;
  /** Every event, with the payloads that take each guarded branch. TICK is added by the walk. */
  events: AnyEventObject[];
  input?: unknown;
  /** The system id the machine is registered under, and the peers it sends to (recorded). */
  systemId?: string;
  peers?: string[];
  /** What distinguishes two states besides the value (keep it small: the walk is exhaustive). */
  key?: (s: AnyMachineSnapshot) => unknown;
  maxDepth: number;
  /**
   * Paths to start from besides the initial state (each step of them checked too), so that
   * context deeper than `maxDepth` (a burst proven acceptable, kicks forgotten) is explored.
   */
  starts?: AnyEventObject[][];
  /** Expected delay, from the settings, per delay name: a value or a half-open range [min, max). */
  delays: Record<string, (s: AnyMachineSnapshot) => number | [number, number]>;
  /** Called before each step is sent: lets a recorder outside the walk keep one step's worth. */
  beforeStep?: () => void;
  /** Assertions on every transition's outputs. */
  step?: (r: StepRecord, path: string) => void;
  /** Assertions every reached state must satisfy. */
  check?: (s: AnyMachineSnapshot, path: string) => void;
}

export interface WalkReport {
  states: number;
  replays: number;
  steps: number;
  ticks: number;
  eventless: number;
  statesVisited: Set<string>;
  transitionsTaken: Set<string>;
  defined: Set<string>;
  definedStates: Set<string>;
  delaysChecked: Map<string, number>;
}

const AFTER = /^xstate\.after\.([^.]+)\./;

/** The transitions one microstep took: read off the definition, the event and the states before and after. */
function inferTransitions(prev: AnyMachineSnapshot, next: AnyMachineSnapshot, event: AnyEventObject, eventless: boolean): AnyTransitionDefinition[] {
  const machine = prev.machine as AnyStateMachine;
  const activeBefore = new Set(getStateNodes(machine.root, prev.value).map((n) => n.id));
  const activeAfter = new Set(getStateNodes(machine.root, next.value).map((n) => n.id));
  const chosen: AnyTransitionDefinition[] = [];
  const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  for (const t of getNextTransitions(prev)) {
    if (eventless ? t.eventType !== '' : t.eventType !== event.type) continue;
    if (chosen.some((c) => related(c.source.id, t.source.id))) continue;
    const targets = t.target ?? [];
    if (targets.length > 0) {
      if (!targets.every((n) => activeAfter.has(n.id))) continue;
      // An eventless transition to a state already active did not happen (it would loop).
      if (eventless && targets.every((n) => activeBefore.has(n.id))) continue;
    } else if (eventless && prev.context === next.context) continue;
    chosen.push(t);
  }
  return chosen;
}

interface Run {
  snapshot: AnyMachineSnapshot;
  records: StepRecord[];
  /** Timers armed and not cancelled or fired: event type → due time. */
  pending: Map<string, number>;
  stop(): void;
}

function createRun(opts: WalkOptions): { run: Run; send(e: AnyEventObject): StepRecord | null } {
  const clock = new SimulatedClock();
  const systemId = opts.systemId ?? 'subject';
  let current: StepRecord | null = null;
  const pending = new Map<string, number>();
  let lastEvent: AnyEventObject | null = null;
  let prev: AnyMachineSnapshot | null = null;
  const peer = (id: string) =>
    fromCallback<AnyEventObject>(({ receive }) => {
      receive((event) => current?.sent.push({ to: id, event }));
    });
  const root = createMachine({
    invoke: [
      ...(opts.peers ?? []).map((id) => ({ id, systemId: id, src: peer(id) as AnyActorLogic })),
      { id: systemId, systemId, src: opts.machine as AnyActorLogic, input: opts.input },
    ],
  });
  const actor = createActor(root, {
    clock,
    inspect: (ev: InspectionEvent) => {
      // The subject is the root's child registered under `systemId` (known before `start` returns).
      if ((ev.actorRef as AnyActorRef).id !== systemId) return;
      if (ev.type === '@xstate.event') {
        lastEvent = null;
      } else if (ev.type === '@xstate.microstep') {
        const next = ev.snapshot as AnyMachineSnapshot;
        const eventless = ev.event === lastEvent;
        lastEvent = ev.event;
        if (prev && current) {
          const ts = inferTransitions(prev, next, ev.event, eventless);
          for (const t of ts) current.transitions.push(transitionKey(t));
          if (eventless) current.eventless += ts.length;
        }
        prev = next;
      } else if (ev.type === '@xstate.action') {
        const { type, params } = ev.action as { type: string; params: Record<string, unknown> };
        if (type === 'xstate.raise' && typeof params.delay === 'number') {
          const e = params.event as AnyEventObject;
          pending.set(e.type, clock.now() + params.delay);
          current?.armed.push({ type: e.type, delay: params.delay });
        } else if (type === 'xstate.cancel') pending.delete(String(params.sendId));
        else if (type === 'xstate.emit') current?.emitted.push(params.event as AnyEventObject);
        else if (type === 'xstate.sendTo') {
          const to = params.to as AnyActorRef | string;
          const id = typeof to === 'string' ? to : (to as unknown as { id: string }).id;
          // Messages to the peers are recorded by the peers themselves; to the subject's own
          // children (the socket) here.
          if (!(opts.peers ?? []).includes(id)) current?.sent.push({ to: id, event: params.event as AnyEventObject });
        }
      }
    },
  });
  actor.start();
  const subject = actor.getSnapshot().children[systemId] as AnyActorRef;
  const snap = () => subject.getSnapshot() as AnyMachineSnapshot;
  prev = snap();
  const run: Run = { snapshot: snap(), records: [], pending, stop: () => actor.stop() };
  const send = (event: AnyEventObject): StepRecord | null => {
    const before = snap();
    opts.beforeStep?.();
    current = { event, transitions: [], eventless: 0, emitted: [], sent: [], armed: [], before, after: before };
    // A machine that is done takes nothing more (a stopped actor ignores events).
    if (before.status !== 'active') return null;
    if (event.type === TICK.type) {
      if (pending.size === 0) return null;
      let first: [string, number] | null = null;
      for (const p of pending) if (!first || p[1] < first[1]) first = p;
      const [type, due] = first!;
      const afterMs = due - clock.now();
      pending.delete(type);
      clock.increment(afterMs);
      current.fired = { type, afterMs };
    } else {
      if (!before.can(event)) return null;
      subject.send(event);
    }
    current.after = snap();
    run.snapshot = current.after;
    run.records.push(current);
    const r = current;
    current = null;
    return r;
  };
  return { run, send };
}

function matchesDelay(expected: number | [number, number], actual: number): boolean {
  return Array.isArray(expected) ? actual >= expected[0] && actual < expected[1] : actual === expected;
}

export function walkModel(opts: WalkOptions): WalkReport {
  const report: WalkReport = {
    states: 0,
    replays: 0,
    steps: 0,
    ticks: 0,
    eventless: 0,
    statesVisited: new Set(),
    transitionsTaken: new Set(),
    defined: definedTransitions(opts.machine),
    definedStates: allStateIds(opts.machine),
    delaysChecked: new Map(),
  };
  const keyOf = (s: AnyMachineSnapshot) => JSON.stringify([s.status, s.value, opts.key?.(s) ?? null]);
  const labelOf = (steps: AnyEventObject[]) => steps.map((e) => e.type.replace(/^xstate\./, '')).join(' → ') || '(initial)';
  // One armed-delay list per path: a replay of the same steps must arm the same delays (determinism).
  const armedByPath = new Map<string, string>();

  /** Replays `steps`; null when the last step does not apply. */
  const replay = (steps: AnyEventObject[]): Run | null => {
    report.replays++;
    const { run, send } = createRun(opts);
    try {
      for (const e of steps) if (!send(e)) return null;
      const id = JSON.stringify(steps, (_k, v: unknown) => (v instanceof Error ? v.message : v));
      const armed = JSON.stringify(run.records.map((r) => r.armed));
      const seen = armedByPath.get(id);
      if (seen !== undefined) cheapExpect(armed, `${labelOf(steps)}: the same steps arm the same delays`).toBe(seen);
      armedByPath.set(id, armed);
      return run;
    } finally {
      run.stop();
    }
  };

  const seen = new Set<string>();
  let frontier: AnyEventObject[][] = [[]];
  const initial = replay([]);
  if (!initial) throw new Error('the machine did not start');
  seen.add(keyOf(initial.snapshot));
  const events = [...opts.events, TICK];

  const examine = (run: Run, steps: AnyEventObject[]) => {
    const path = labelOf(steps);
    const r = run.records.at(-1);
    if (r) {
      report.steps++;
      report.eventless += r.eventless;
      if (r.fired) report.ticks++;
      r.transitions.forEach((t) => report.transitionsTaken.add(t));
      for (const a of r.armed) {
        const name = AFTER.exec(a.type)?.[1] ?? a.type;
        const spec = opts.delays[name];
        cheapExpect(spec, `${path}: delay ${name} has an expected value`).toBeDefined();
        const expected = spec!(r.after);
        cheapExpect(matchesDelay(expected, a.delay), `${path}: ${name} armed ${a.delay} ms, expected ${JSON.stringify(expected)}`).toBe(true);
        report.delaysChecked.set(name, (report.delaysChecked.get(name) ?? 0) + 1);
      }
      if (r.fired) {
        // The timer fired after exactly its delay, and its transition was taken.
        cheapExpect(r.transitions.some((t) => t.includes(`--${r.fired!.type}`)), `${path}: ${r.fired.type} fired`).toBe(true);
      }
      opts.step?.(r, path);
    }
    for (const n of getStateNodes((run.snapshot.machine as AnyStateMachine).root, run.snapshot.value)) report.statesVisited.add(n.id);
    opts.check?.(run.snapshot, path);
  };
  examine(initial, []);
  for (const start of opts.starts ?? []) {
    for (let i = 1; i <= start.length; i++) {
      const run = replay(start.slice(0, i));
      if (!run) throw new Error(`start path ${labelOf(start.slice(0, i))}: the last step does not apply`);
      examine(run, start.slice(0, i));
      if (i === start.length && !seen.has(keyOf(run.snapshot))) {
        seen.add(keyOf(run.snapshot));
        frontier.push(start);
      }
    }
  }

  /** The events the state reached by `steps` takes: one replay instead of one per refused event. */
  const applicable = (steps: AnyEventObject[]): AnyEventObject[] => {
    if (steps.length === 0) return events.filter((e) => (e === TICK ? initial.pending.size > 0 : initial.snapshot.can(e)));
    const run = replay(steps);
    if (!run || run.snapshot.status !== 'active') return [];
    return events.filter((e) => (e === TICK ? run.pending.size > 0 : run.snapshot.can(e)));
  };

  for (let depth = 0; depth < opts.maxDepth && frontier.length > 0; depth++) {
    const next: AnyEventObject[][] = [];
    for (const steps of frontier) {
      for (const e of applicable(steps)) {
        const run = replay([...steps, e]);
        if (!run) continue;
        examine(run, [...steps, e]);
        const k = keyOf(run.snapshot);
        if (seen.has(k)) continue;
        seen.add(k);
        next.push([...steps, e]);
      }
    }
    frontier = next;
  }
  report.states = seen.size;
  return report;
}

/** Every transition and every state of the machine was reached by the walk. */
export function expectFullCoverage(report: WalkReport): void {
  expect([...report.defined].filter((t) => !report.transitionsTaken.has(t)), 'transitions never taken').toEqual([]);
  expect([...report.definedStates].filter((s) => !report.statesVisited.has(s)), 'states never visited').toEqual([]);
  console.log(
    `walked ${report.states} states, ${report.replays} replays, ${report.steps} steps (${report.ticks} clock advances), ` +
      `${report.transitionsTaken.size}/${report.defined.size} transitions, ${report.eventless} eventless, ${report.definedStates.size} states`,
  );
}

/** Structural equality strict enough that `true` implies vitest's `toEqual`; anything unusual answers `false`. */
function plainEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => plainEqual(v, b[i]));
  const plain = (o: object) => Object.getPrototypeOf(o) === Object.prototype || Object.getPrototypeOf(o) === null;
  if (Array.isArray(b) || !plain(a) || !plain(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && plainEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * `expect` for the walks' hot loops, which assert tens of thousands of times per run (and run
 * once per mutant under mutation testing): the common matchers are decided by a cheap check, and
 * only a failing (or undecided) one goes through vitest's `expect`, which then reports it.
 */
export function cheapExpect<T>(actual: T, message?: string) {
  const real = () => expect(actual, message);
  const when = (ok: boolean, then: () => void) => {
    if (!ok) then();
  };
  return {
    toBe: (e: unknown) => when(Object.is(actual, e), () => real().toBe(e)),
    toEqual: (e: unknown) => when(plainEqual(actual, e), () => real().toEqual(e)),
    toBeNull: () => when(actual === null, () => real().toBeNull()),
    toBeDefined: () => when(actual !== undefined, () => real().toBeDefined()),
    toBeGreaterThan: (n: number) => when((actual as number) > n, () => real().toBeGreaterThan(n)),
    toBeGreaterThanOrEqual: (n: number) => when((actual as number) >= n, () => real().toBeGreaterThanOrEqual(n)),
    toBeLessThanOrEqual: (n: number) => when((actual as number) <= n, () => real().toBeLessThanOrEqual(n)),
    toMatch: (e: RegExp | string) => real().toMatch(e),
    not: {
      toBeNull: () => when(actual !== null, () => real().not.toBeNull()),
    },
  };
}
