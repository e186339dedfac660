import { describe, expect, it } from 'vitest';
import { fromPromise, type AnyEventObject } from 'xstate';
import { leaderMachine, type LeaseAnswer } from '../../src/machines/leader.machine.js';
import { afterEvents, expectFullCoverage, walkModel } from '../helpers/model-walk.js';

// Every state and transition of the leader statechart, replayed on a real actor whose lease calls
// never settle on their own: the walk delivers their results as events.

const never = <T>() => fromPromise<T, { token: number }>(() => new Promise<T>(() => undefined));
const machine = leaderMachine.provide({ actors: { acquireLease: never<LeaseAnswer>(), renewLease: never<LeaseAnswer>() } });

const events: AnyEventObject[] = [
  { type: 'xstate.done.actor.0.leader.campaigning', output: { value: 7, validForMs: 10_000 } },
  { type: 'xstate.done.actor.0.leader.campaigning', output: { value: 0, validForMs: 10_000 } },
  // An answer that took longer than the lease is safe: not elected.
  { type: 'xstate.done.actor.0.leader.campaigning', output: { value: 8, validForMs: -5 } },
  { type: 'xstate.error.actor.0.leader.campaigning', error: new Error('redis down') },
  { type: 'xstate.done.actor.0.leader.leading.renewal.renewing', output: { value: 1, validForMs: 10_000 } },
  { type: 'xstate.done.actor.0.leader.leading.renewal.renewing', output: { value: 0, validForMs: 10_000 } },
  { type: 'xstate.done.actor.0.leader.leading.renewal.renewing', output: { value: 1, validForMs: -1 } },
  { type: 'xstate.error.actor.0.leader.leading.renewal.renewing', error: new Error('redis down') },
  { type: 'RENEWED' },
  ...afterEvents(leaderMachine),
];

type Snap = ReturnType<typeof machine.getInitialSnapshot>;

describe('leader statechart, model-based', () => {
  it('walks every state and transition; a token exactly while leading', () => {
    const report = walkModel({
      machine,
      events,
      check: (s, path) => {
        const snap = s as unknown as Snap;
        if (snap.matches('leading')) expect(snap.context.token, path).toBeGreaterThan(0);
        else expect(snap.context.token, path).toBeNull();
      },
    });
    expectFullCoverage(report);
  });
});
