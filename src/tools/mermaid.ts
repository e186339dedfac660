import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

// Turns a machine definition into a Mermaid `stateDiagram-v2` document. Everything is read from
// the machine itself (toDirectedGraph for states and event edges, plus the eventless `always`
// transitions it leaves out), in document order, so regenerating an unchanged machine gives the
// same bytes and a committed diagram can be checked for staleness.
//
// Mermaid constraints that shape the output (checked against Mermaid 11's grammar and renderer):
// - a state is placed in the block where it is first mentioned, so every state is declared in
//   its own block before any edge names it, and edges that cross a block boundary are written
//   at the top level, after all blocks;
// - in a block split by `--` (a parallel state) every statement after a divider belongs to the
//   region above it, so a parallel block holds only its regions;
// - `--` is only understood inside a block, so a parallel root is always wrapped in a block;
// - an edge label ends at `:` or `;` and ids may not contain `-`; both are escaped or sanitised.

export type TransitionKind = 'event' | 'always' | 'after' | 'done' | 'error' | 'snapshot';

export interface ChartState {
  node: AnyStateNode;
  /** Mermaid identifier, unique in the diagram. */
  id: string;
  /** Dotted path from the root (`open.phase.live`); the machine id for the root. */
  path: string;
}

export interface ChartEdge {
  source: AnyStateNode;
  target: AnyStateNode;
  transition: AnyTransitionDefinition;
  kind: TransitionKind;
  /** The event descriptor for `event` edges; the delay for `after`; the actor id for done/error/snapshot. */
  trigger: string;
  guard: string | null;
  /** Edge label as written in the diagram, before escaping. */
  label: string;
}

export interface ChartModel {
  machineId: string;
  root: ChartState;
  /** Every state node but the root, in document order. */
  states: ChartState[];
  /** One per (transition, target), in document order of their source, then definition order. */
  edges: ChartEdge[];
  /** Distinct transitions (a transition with two targets counts once). */
  transitionCount: number;
}

export interface MachineSummary {
  states: number;
  events: string[];
  transitions: number;
  byKind: Record<TransitionKind, number>;
  delays: string[];
}

const NULL_EVENT = '';
const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const DONE_STATE = 'xstate.done.state.';
const SNAPSHOT = 'xstate.snapshot.';

// Words Mermaid's state grammar reads as keywords (case-insensitive), plus `root`, the id its
// renderer gives the diagram itself: a state with one of these ids would vanish or fail to parse.
const RESERVED = new Set(['default', 'state', 'note', 'class', 'classdef', 'scale', 'direction', 'hide', 'style', 'click', 'root', 'acctitle', 'accdescr', 'end']);

export function describeMachine(machine: AnyStateMachine): ChartModel {
  // Passing the root node (not the machine) keeps toDirectedGraph's `instanceof StateMachine`
  // check out of the way when two copies of xstate are loaded (vitest vs node resolution).
  const graph = toDirectedGraph(machine.root);
  const ids = new IdAllocator();
  const states: ChartState[] = [];
  const edges: ChartEdge[] = [];
  const transitions = new Set<AnyTransitionDefinition>();

  const root: ChartState = { node: machine.root, id: ids.take(machine.id, machine.root), path: machine.id };
  const visit = (g: DirectedGraphNode, isRoot: boolean): void => {
    if (!isRoot) {
      const node = g.stateNode;
      states.push({ node, id: ids.take(node.path.join('_'), node), path: node.path.join('.') });
    }
    for (const e of g.edges) {
      edges.push(toEdge(e.source, e.target, e.transition));
      transitions.add(e.transition);
    }
    for (const t of g.stateNode.always ?? []) {
      transitions.add(t);
      for (const target of t.target ?? [g.stateNode]) edges.push(toEdge(g.stateNode, target, t));
    }
    for (const child of g.children) visit(child, false);
  };
  visit(graph, true);
  return { machineId: machine.id, root, states, edges, transitionCount: transitions.size };
}

export function summarize(model: ChartModel): MachineSummary {
  const byKind: Record<TransitionKind, number> = { event: 0, always: 0, after: 0, done: 0, error: 0, snapshot: 0 };
  const seen = new Set<AnyTransitionDefinition>();
  const events = new Set<string>();
  const delays = new Set<string>();
  for (const e of model.edges) {
    if (e.kind === 'event') events.add(e.trigger);
    if (e.kind === 'after') delays.add(e.trigger);
    if (seen.has(e.transition)) continue;
    seen.add(e.transition);
    byKind[e.kind] += 1;
  }
  return {
    states: model.states.length,
    events: [...events].sort(compareText),
    transitions: model.transitionCount,
    byKind,
    delays: [...delays].sort(compareText),
  };
}

/** The `stateDiagram-v2` source alone, without fences. */
export function mermaidDiagram(machine: AnyStateMachine): string {
  return renderDiagram(describeMachine(machine));
}

export interface MermaidDocOptions {
  /** A paragraph printed under the title. */
  description?: string;
}

/** A Markdown document: title, the diagram in a ```mermaid block, then the states and events. */
export function toMermaid(machine: AnyStateMachine, title?: string, options: MermaidDocOptions = {}): string {
  const model = describeMachine(machine);
  const summary = summarize(model);
  const out: string[] = [`# ${title ?? machine.id}`, ''];
  if (options.description) out.push(oneLine(options.description), '');
  out.push('```mermaid', renderDiagram(model), '```', '');
  out.push(
    'Edge labels: `EVENT [guard]` for an event, `always [guard]` for an eventless transition, ' +
      '`after name` for a delayed one (the delay named in `setup({ delays })`), ' +
      '`onDone(actor)` / `onError(actor)` when an invoked actor settles. ' +
      'A loop on a state stands for the transitions that stay there (actions only, or re-entry), one label line each. ' +
      'A block named "(parallel)" holds regions that are all active at once.',
    '',
  );

  out.push(`## States (${summary.states})`, '');
  for (const s of model.states) out.push(`- ${stateLine(s)}`);
  out.push('');

  out.push(`## Events (${summary.events.length})`, '');
  if (summary.events.length === 0) out.push('None.');
  for (const ev of summary.events) {
    const where = unique(model.edges.filter((e) => e.kind === 'event' && e.trigger === ev).map((e) => statePath(model, e.source)));
    out.push(`- \`${ev}\`: in ${where.map((p) => `\`${p}\``).join(', ')}`);
  }
  out.push('');

  const k = summary.byKind;
  out.push(`## Transitions (${summary.transitions})`, '');
  out.push(`- on events: ${k.event}`);
  out.push(`- eventless (\`always\`): ${k.always}`);
  out.push(`- delayed (\`after\`): ${k.after}${summary.delays.length ? ` — delays: ${summary.delays.map((d) => `\`${d}\``).join(', ')}` : ''}`);
  out.push(`- invoked actor settled (\`onDone\` / \`onError\` / \`onSnapshot\`): ${k.done + k.error + k.snapshot}`);
  out.push('');
  return out.join('\n');
}

function renderDiagram(model: ChartModel): string {
  const byNode = new Map<AnyStateNode, ChartState>(model.states.map((s) => [s.node, s]));
  byNode.set(model.root.node, model.root);
  const idOf = (n: AnyStateNode): string => {
    const s = byNode.get(n);
    if (!s) throw new Error(`state node ${n.id} is not part of machine ${model.machineId}`);
    return s.id;
  };

  const rootNode = model.root.node;
  const wrapRoot = rootNode.type === 'parallel' || model.edges.some((e) => e.source === rootNode);
  // Edges between two children of one ordinary block are drawn inside it; all others at the top.
  const blockOf = (e: ChartEdge): AnyStateNode | null => {
    const p = e.source.parent;
    if (!p || p !== e.target.parent || p.type === 'parallel') return null;
    return p === rootNode && !wrapRoot ? null : p;
  };
  // Mermaid draws only one of several loops on the same state: they become one edge, one label
  // line per transition, placed where the first of them was.
  type Line = { edge: string } | { loop: AnyStateNode };
  const loops = new Map<AnyStateNode, string[]>();
  const local = new Map<AnyStateNode, Line[]>();
  const global: Line[] = [];
  for (const e of model.edges) {
    const label = escapeLabel(e.label);
    let line: Line;
    if (e.source === e.target) {
      const seen = loops.get(e.source);
      if (seen) {
        seen.push(label);
        continue;
      }
      loops.set(e.source, [label]);
      line = { loop: e.source };
    } else {
      line = { edge: `${idOf(e.source)} --> ${idOf(e.target)} : ${label}` };
    }
    const b = blockOf(e);
    if (b) (local.get(b) ?? local.set(b, []).get(b))?.push(line);
    else global.push(line);
  }
  const resolve = (line: Line): string =>
    'edge' in line ? line.edge : `${idOf(line.loop)} --> ${idOf(line.loop)} : ${(loops.get(line.loop) ?? []).join('<br>')}`;

  const lines: string[] = ['stateDiagram-v2'];
  const emitChildren = (node: AnyStateNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const children = Object.values(node.states) as AnyStateNode[];
    if (node.type === 'parallel') {
      const divide = regionsCanBeDivided(node);
      children.forEach((child, i) => {
        if (i > 0 && divide) lines.push(`${pad}--`);
        emitState(child, depth);
      });
      return;
    }
    for (const child of children) emitState(child, depth);
    for (const t of node.initial?.target ?? []) lines.push(`${pad}[*] --> ${idOf(t)}`);
    for (const line of local.get(node) ?? []) lines.push(pad + resolve(line));
    for (const child of children) if (child.type === 'final') lines.push(`${pad}${idOf(child)} --> [*]`);
  };
  const emitState = (node: AnyStateNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const decl = `${pad}state "${escapeName(nodeLabel(node))}" as ${idOf(node)}`;
    if (Object.keys(node.states).length === 0) {
      lines.push(decl);
      return;
    }
    lines.push(`${decl} {`);
    emitChildren(node, depth + 1);
    lines.push(`${pad}}`);
  };

  if (wrapRoot) {
    lines.push(`  state "${escapeName(rootNode.type === 'parallel' ? `${model.machineId} (parallel)` : model.machineId)}" as ${model.root.id} {`);
    emitChildren(rootNode, 2);
    lines.push('  }');
    lines.push(`  [*] --> ${model.root.id}`);
  } else {
    emitChildren(rootNode, 1);
  }
  for (const line of global) lines.push(`  ${resolve(line)}`);
  return lines.join('\n');
}

/**
 * Mermaid 11 fails to lay out ("Cannot set properties of undefined (setting 'rank')") a
 * composite state nested inside a `--` region once an edge touches it. Regions holding composite
 * states are therefore drawn as plain side-by-side blocks, without dividers; the parallel state
 * says "(parallel)" in its name either way.
 */
function regionsCanBeDivided(parallel: AnyStateNode): boolean {
  const regions = Object.values(parallel.states) as AnyStateNode[];
  return regions.every((r) => (Object.values(r.states) as AnyStateNode[]).every((s) => Object.keys(s.states).length === 0));
}

function toEdge(source: AnyStateNode, target: AnyStateNode, t: AnyTransitionDefinition): ChartEdge {
  const guard = t.guard === undefined ? null : guardLabel(t.guard);
  const delay = delayOf(t);
  let kind: TransitionKind;
  let trigger: string;
  let text: string;
  if (delay !== null) {
    kind = 'after';
    trigger = delay;
    text = `after ${delay}`;
  } else if (t.eventType === NULL_EVENT) {
    kind = 'always';
    trigger = '';
    text = 'always';
  } else if (t.eventType.startsWith(DONE_ACTOR)) {
    kind = 'done';
    trigger = actorName(source, t.eventType.slice(DONE_ACTOR.length));
    text = `onDone(${trigger})`;
  } else if (t.eventType.startsWith(ERROR_ACTOR)) {
    kind = 'error';
    trigger = actorName(source, t.eventType.slice(ERROR_ACTOR.length));
    text = `onError(${trigger})`;
  } else if (t.eventType.startsWith(SNAPSHOT)) {
    kind = 'snapshot';
    trigger = actorName(source, t.eventType.slice(SNAPSHOT.length));
    text = `onSnapshot(${trigger})`;
  } else if (t.eventType.startsWith(DONE_STATE)) {
    kind = 'done';
    trigger = t.eventType.slice(DONE_STATE.length);
    text = 'onDone';
  } else {
    kind = 'event';
    trigger = t.eventType;
    text = t.eventType;
  }
  return { source, target, transition: t, kind, trigger, guard, label: guard ? `${text} [${guard}]` : text };
}

/** An invoke without an `id` gets a generated one (`0.machine.state`): show its `src` instead. */
function actorName(source: AnyStateNode, invokeId: string): string {
  const def = source.invoke.find((i) => i.id === invokeId);
  if (def && /^\d+\./.test(invokeId) && typeof def.src === 'string' && !def.src.startsWith('xstate.invoke.')) return def.src;
  return invokeId;
}

/** Delayed transitions carry the key of their `after` entry: a delay name or a number of ms. */
function delayOf(t: AnyTransitionDefinition): string | null {
  const delay: unknown = (t as { delay?: unknown }).delay;
  if (typeof delay === 'number') return `${delay}ms`;
  if (typeof delay === 'string') return delay;
  if (typeof delay === 'function') return delay.name || 'expression';
  return null;
}

export function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // and()/or()/not() and stateIn() are functions carrying their operands (xstate/guards).
    const g = guard as { name: string; guards?: unknown; stateValue?: unknown; check?: unknown };
    if (typeof g.check === 'function' && Array.isArray(g.guards)) {
      const parts = (g.guards as unknown[]).map(guardLabel);
      if (g.name === 'not') return `not(${parts.join(', ')})`;
      return `${g.name}(${parts.join(', ')})`;
    }
    if (typeof g.check === 'function' && g.stateValue !== undefined) {
      return `in(${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)})`;
    }
    // An inline arrow written as `guard: () => ...` is named after its property.
    return g.name && g.name !== 'guard' ? g.name : 'inline guard';
  }
  if (guard && typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

function nodeLabel(node: AnyStateNode): string {
  const key = node.key;
  if (node.type === 'parallel') return `${key} (parallel)`;
  if (node.type === 'history') return `${key} (${node.history === 'deep' ? 'H*' : 'H'})`;
  return key;
}

function stateLine(s: ChartState): string {
  const n = s.node;
  const facts: string[] = [n.type];
  if (n.parent?.initial?.target.includes(n)) facts.push('initial');
  const delays = unique(n.after.map((t) => delayOf(t) ?? ''));
  if (delays.length) facts.push(`after ${delays.join(', ')}`);
  const invokes = n.invoke.map((i) => i.id);
  if (invokes.length) facts.push(`invokes ${invokes.join(', ')}`);
  const text = `\`${s.path}\` (${facts.join('; ')})`;
  return n.description ? `${text}: ${oneLine(n.description)}` : text;
}

function statePath(model: ChartModel, node: AnyStateNode): string {
  return node === model.root.node ? model.root.path : node.path.join('.');
}

class IdAllocator {
  private readonly used = new Set<string>();

  take(raw: string, node: AnyStateNode): string {
    let base = raw.replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z]/.test(base)) base = `s_${base}`;
    if (RESERVED.has(base.toLowerCase())) base = `${base}_`;
    let id = base;
    for (let i = 2; this.used.has(id); i++) id = `${base}_${i}`;
    this.used.add(id);
    // Mermaid names a block's start and end pseudo-states `<id>_start` / `<id>_end`.
    if (Object.keys(node.states).length > 0) {
      this.used.add(`${id}_start`);
      this.used.add(`${id}_end`);
    }
    return id;
  }
}

// Mermaid decodes `#<code>;` entities in labels; `:` and `;` would end a label, `#` starts one.
function escapeLabel(text: string): string {
  return oneLine(text).replace(/[#:;]/g, (c) => `#${c.charCodeAt(0)};`);
}

function escapeName(text: string): string {
  return oneLine(text).replace(/[#"]/g, (c) => `#${c.charCodeAt(0)};`);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
