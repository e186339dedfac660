import { createActor, createMachine, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { combineInspectors, createMachineStateRecorder } from '../../src/shared/machine-states.js';
import { scannerMachine } from '../../src/machines/scanner.machine.js';

// The recorder behind the dashboard's live diagrams: each machine's current state, from the
// inspection events alone, children included, and children forgotten when their parent stops them.

const child = createMachine({ id: 'child', initial: 'one', states: { one: { on: { NEXT: 'two' } }, two: {} } });
const parentMachine = setup({ actors: { child } }).createMachine({
  id: 'parent',
  initial: 'idle',
  states: {
    idle: { on: { GO: 'running' } },
    running: {
      invoke: { id: 'kid', systemId: 'kid', src: 'child' },
      initial: 'a',
      states: { a: { on: { B: 'b' } }, b: {} },
      on: { STOP_KID: 'idle' },
    },
  },
});

describe('machine state recorder', () => {
  it('follows a root and its invoked child, and forgets the child once stopped', () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const rec = createMachineStateRecorder(() => t);
    const actor = createActor(parentMachine, { inspect: rec.observe });
    actor.start();
    expect(rec.states()).toEqual({ parent: { value: 'idle', status: 'active', since: '2026-01-01T00:00:00.000Z' } });

    t += 1_000;
    actor.send({ type: 'GO' });
    expect(rec.states().parent?.value).toEqual({ running: 'a' });
    expect(rec.states().parent?.since).toBe('2026-01-01T00:00:01.000Z');
    expect(rec.states().child?.value).toBe('one');

    t += 1_000;
    actor.system.get('kid')?.send({ type: 'NEXT' });
    expect(rec.states().child).toEqual({ value: 'two', status: 'active', since: '2026-01-01T00:00:02.000Z' });
    // An event that changes nothing keeps the time of the last change.
    t += 1_000;
    actor.send({ type: 'NOPE' } as never);
    expect(rec.states().parent?.since).toBe('2026-01-01T00:00:01.000Z');

    actor.send({ type: 'B' });
    expect(rec.states().parent?.value).toEqual({ running: 'b' });
    actor.send({ type: 'STOP_KID' });
    expect(rec.states().parent?.value).toBe('idle');
    expect(rec.states().child).toBeUndefined();
    actor.stop();
  });

  it('records a real machine of the project under its own id', () => {
    const rec = createMachineStateRecorder();
    const actor = createActor(scannerMachine, { inspect: rec.observe, input: { intervalMs: 10_000 } });
    actor.start();
    expect(Object.keys(rec.states())).toEqual(['scanner']);
    expect(rec.states().scanner?.value).toBe(actor.getSnapshot().value);
    actor.stop();
  });

  it('feeds every inspector given, observers and functions alike, skipping absent ones', () => {
    const seen: string[] = [];
    const inspect = combineInspectors((e) => seen.push(`f:${e.type}`), undefined, { next: (e) => seen.push(`o:${e.type}`) }, null);
    const actor = createActor(child, { inspect });
    actor.start();
    expect(seen.filter((s) => s.startsWith('f:')).length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.startsWith('o:')).length).toBe(seen.filter((s) => s.startsWith('f:')).length);
    actor.stop();
  });
});
