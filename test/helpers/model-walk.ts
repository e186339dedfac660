import { expect } from 'vitest';
import { SimulatedClock, createActor, type AnyEventObject, type AnyStateMachine, type AnyTransitionDefinition, type InspectionEvent } from 'xstate';
import { getShortestPaths, toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

// Model-based testing of a production machine with XState v5's graph tools: the shortest path
// to every state value, then every event from every reached state, replayed on a real actor
// (simulated clock, I/O swapped for inert actors). Each replay records the transitions actually
// taken; the walk fails if any transition of the machine's definition was never taken, so a new
// state or edge without a test fails the suite. `check` asserts what each state promises.

export function transitionKey(t: AnyTransitionDefinition): string {
  const targets = (t.target ?? []).map((n) => n.id).join(',');
  const guard = t.guard ? (typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string }).type ?? 'inline')) : '';
  return `${t.source.id} --${t.eventType || 'always'}${guard ? ` [${guard}]` : ''}--> ${targets || '(self)'}`;
}

/** Every transition the machine defines, keyed as `transitionKey` keys them. */
export function definedTransitions(machine: AnyStateMachine): Set<string> {
  const out = new Set<string>();
  const visit = (node: DirectedGraphNode) => {
    for (const e of node.edges) out.add(transitionKey(e.transition));
    node.children.forEach(visit);
  };
  visit(toDirectedGraph(machine));
  return out;
}

/** Every delayed-transition event type (`xstate.after.<delay>.<state id>`) the machine defines. */
export function afterEvents(machine: AnyStateMachine): AnyEventObject[] {
  const types = new Set<string>();
  for (const key of definedTransitions(machine)) {
    const m = /--(xstate\.after\.[^\s]+?)(?: \[|-->)/.exec(key);
    if (m?.[1]) types.add(m[1].replace(/--$/, ''));
  }
  return [...types].map((type) => ({ type }));
}

export function allStateIds(machine: AnyStateMachine): Set<string> {
  const out = new Set<string>();
  const visit = (node: DirectedGraphNode) => {
    out.add(node.id);
    node.children.forEach(visit);
  };
  visit(toDirectedGraph(machine));
  return out;
}

export interface WalkOptions<TInput> {
  machine: AnyStateMachine;
  /** Every event, with the payloads that take each guarded branch. */
  events: AnyEventObject[];
  input?: TInput;
  /** Assertions a reached snapshot must satisfy. */
  check: (snapshot: ReturnType<AnyStateMachine['getInitialSnapshot']>, path: string) => void;
}

export interface WalkReport {
  paths: number;
  replays: number;
  statesVisited: Set<string>;
  transitionsTaken: Set<string>;
  defined: Set<string>;
  definedStates: Set<string>;
}

export function walkModel<TInput>(opts: WalkOptions<TInput>): WalkReport {
  const { machine, events } = opts;
  const paths = getShortestPaths(machine, {
    events,
    input: opts.input,
    // The state value is the model; counters in context would make the graph infinite.
    serializeState: (s) => JSON.stringify((s as { value: unknown }).value),
  });
  const report: WalkReport = {
    paths: paths.length,
    replays: 0,
    statesVisited: new Set(),
    transitionsTaken: new Set(),
    defined: definedTransitions(machine),
    definedStates: allStateIds(machine),
  };

  const replay = (steps: AnyEventObject[]) => {
    report.replays++;
    const clock = new SimulatedClock();
    const actor = createActor(machine, {
      clock,
      input: opts.input,
      inspect: (ev: InspectionEvent) => {
        if (ev.type === '@xstate.microstep' && ev.actorRef === actor) {
          for (const t of ev._transitions) report.transitionsTaken.add(transitionKey(t));
        }
      },
    });
    actor.start();
    const label = steps.map((e) => e.type).join(' → ') || '(initial)';
    for (const e of steps) actor.send(e);
    const snap = actor.getSnapshot();
    for (const node of (snap as unknown as { _nodes: { id: string }[] })._nodes) report.statesVisited.add(node.id);
    opts.check(snap, label);
    actor.stop();
  };

  for (const p of paths) {
    const steps = p.steps.map((s) => s.event as AnyEventObject).filter((e) => e.type !== 'xstate.init');
    replay(steps);
    const end = p.state as { status?: string; can(e: AnyEventObject): boolean };
    if (end.status === 'done') continue;
    // Only events the state takes: an error event nobody handles cannot happen (no invoke
    // left to fail), and an event with no transition adds nothing to check.
    for (const e of events) if (end.can(e)) replay([...steps, e]);
  }
  return report;
}

/** Every transition and every state of the machine was reached by the walk. */
export function expectFullCoverage(report: WalkReport): void {
  expect([...report.defined].filter((t) => !report.transitionsTaken.has(t)), 'transitions never taken').toEqual([]);
  expect([...report.definedStates].filter((s) => !report.statesVisited.has(s)), 'states never visited').toEqual([]);
  console.log(
    `walked ${report.paths} paths, ${report.replays} replays, ${report.defined.size} transitions, ${report.definedStates.size} states`,
  );
}
