import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, type AnyEventObject, type AnyMachineSnapshot } from 'xstate';
import { leaderMachine, type LeaderContext, type LeaderSettings, type LeaseAnswer } from '../../src/machines/leader.machine.js';
import { expectFullCoverage, walkModel, type StepRecord } from '../helpers/model-walk.js';

// Every state and transition of the leader statechart, walked on the simulated clock with lease
// calls that never settle on their own (the walk delivers their results as events) and a parent
// that records every notice it is told.

/** The inputs each lease call was given, in order. */
const calls: { kind: 'acquire' | 'renew'; token: unknown }[] = [];
const never = (kind: 'acquire' | 'renew') =>
  fromPromise<LeaseAnswer, { token: number }>(({ input }) => {
    calls.push({ kind, token: input?.token });
    return new Promise<LeaseAnswer>(() => undefined);
  });
const machine = leaderMachine.provide({ actors: { acquireLease: never('acquire'), renewLease: never('renew') } });

const acquire = 'xstate.done.actor.0.leader.campaigning';
const renew = 'xstate.done.actor.0.leader.leading.renewal.renewing';
const events: AnyEventObject[] = [
  { type: acquire, output: { value: 7, validForMs: 10_000 } },
  { type: acquire, output: { value: 0, validForMs: 10_000 } },
  // An answer that took longer than the lease is safe: not elected.
  { type: acquire, output: { value: 8, validForMs: 0 } },
  { type: acquire, output: { value: 9, validForMs: -1 } },
  { type: 'xstate.error.actor.0.leader.campaigning', error: new Error('redis down') },
  { type: renew, output: { value: 1, validForMs: 9_000 } },
  { type: renew, output: { value: 0, validForMs: 10_000 } },
  { type: renew, output: { value: 1, validForMs: 0 } },
  { type: renew, output: { value: 2, validForMs: 9_000 } },
  { type: 'xstate.error.actor.0.leader.leading.renewal.renewing', error: new Error('redis timeout') },
];

const ctx = (s: AnyMachineSnapshot) => s.context as LeaderContext;

function walk(settings: Partial<LeaderSettings> | undefined, x: LeaderSettings) {
  const told: AnyEventObject[] = [];
  const parent = createActor(fromCallback<AnyEventObject>(({ receive }) => receive((e) => told.push(e))));
  parent.start();
  const step = (r: StepRecord, path: string) => {
    const { before, after, event } = r;
    const b = ctx(before);
    const a = ctx(after);
    const elected = !before.matches('leading') && after.matches('leading');
    const deposed = before.matches('leading') && !after.matches('leading');
    const notices = [...told];
    const leaseCalls = calls.splice(0);
    // Every campaign asks for a new lease (token 0); every renewal names the term's token.
    for (const c of leaseCalls) expect(c, `${path}: lease call`).toEqual(c.kind === 'acquire' ? { kind: 'acquire', token: 0 } : { kind: 'renew', token: a.token ?? b.token });
    if (after.matches({ leading: { renewal: 'renewing' } }) && !before.matches({ leading: { renewal: 'renewing' } })) expect(leaseCalls.map((c) => c.kind), path).toEqual(['renew']);
    if (after.matches('campaigning') && !before.matches('campaigning')) expect(leaseCalls.map((c) => c.kind), path).toEqual(['acquire']);
    // An answer is acted on only when it is a lease and still valid.
    if (event.type === acquire) {
      const o = event.output as LeaseAnswer;
      expect(after.matches('leading'), `${path}: elected`).toBe(o.value > 0 && o.validForMs > 0);
      if (!after.matches('leading')) expect(after.value, `${path}: not elected, standby`).toBe('standby');
      // A term runs its renewal and its deadline side by side, the deadline from the answer's validity.
      else expect(r.armed.map((t) => t.type.split('.')[2]).sort(), path).toEqual(['leaseDeadline', 'renewDelay']);
    }
    if (event.type === renew) {
      const o = event.output as LeaseAnswer;
      expect(after.matches('leading'), `${path}: kept`).toBe(o.value === 1 && o.validForMs > 0);
      if (after.matches('leading')) expect(after.matches({ leading: { renewal: 'resting' } }), `${path}: rests until the next renewal`).toBe(true);
    }
    if (r.fired?.type.includes('leaseDeadline')) expect(after.value, `${path}: the deadline deposes`).toBe('standby');
    if (r.fired?.type.includes('retryDelay')) expect(after.value, path).toBe('campaigning');
    if (r.fired?.type.includes('renewDelay')) expect(after.matches({ leading: { renewal: 'renewing' } }), path).toBe(true);
    // The parent hears of every term: ELECTED with its token on entry, DEPOSED whatever ends it.
    expect(notices, `${path}: the parent is told`).toEqual(elected ? [{ type: 'ELECTED', token: a.token }] : deposed ? [{ type: 'DEPOSED' }] : []);
    expect(r.emitted.filter((e) => e.type === 'elected'), path).toEqual(elected ? [{ type: 'elected', token: a.token, term: b.terms + 1 }] : []);
    if (elected) {
      expect(a.token, path).toBe((event.output as LeaseAnswer).value);
      expect(a.validForMs, path).toBe((event.output as LeaseAnswer).validForMs);
      expect(a.lastError, path).toBeNull();
    }
    const reason = r.fired?.type.includes('leaseDeadline') ? 'deadline' : 'lost';
    expect(r.emitted.filter((e) => e.type === 'deposed'), path).toEqual(deposed ? [{ type: 'deposed', token: b.token, reason }] : []);
    if (deposed) expect(after.value, path).toBe('standby');
    const failed = event.type.startsWith('xstate.error.actor');
    expect(r.emitted.filter((e) => e.type === 'lease_error'), path).toEqual(failed ? [{ type: 'lease_error', error: (event.error as Error).message }] : []);
    if (failed) expect(a.lastError, path).toBe((event.error as Error).message);
    // A failed call is retried: a campaign from standby after its delay, a renewal after resting (the deadline decides).
    if (failed && before.matches('campaigning')) expect(after.value, `${path}: standby after a failed campaign`).toBe('standby');
    if (failed && before.matches('leading')) expect(after.matches({ leading: { renewal: 'resting' } }), `${path}: resting after a failed renewal`).toBe(true);
    // A renewal that keeps the lease restarts the deadline from its own answer; a failed one does not.
    const renewed = event.type === renew && after.matches('leading');
    if (renewed) {
      expect(a.validForMs, path).toBe((event.output as LeaseAnswer).validForMs);
      expect(r.armed.filter((t) => t.type.includes('leaseDeadline')).map((t) => t.delay), `${path}: deadline restarted`).toEqual([a.validForMs]);
    } else if (!elected) expect(r.armed.filter((t) => t.type.includes('leaseDeadline')), path).toEqual([]);
  };
  const report = walkModel({
    machine,
    input: { settings, parent },
    events,
    systemId: 'leader',
    key: (s) => [ctx(s).token !== null, ctx(s).validForMs, ctx(s).lastError !== null],
    maxDepth: 6,
    delays: {
      retryDelay: () => x.retryEveryMs,
      renewDelay: () => x.renewEveryMs,
      leaseDeadline: (s) => ctx(s).validForMs,
    },
    beforeStep: () => {
      told.splice(0);
      calls.splice(0);
    },
    step,
    check: (s, path) => {
      if (path === '(initial)') expect(s.value, path).toBe('campaigning');
      // A token exactly while leading.
      if (s.matches('leading')) expect(ctx(s).token, path).toBeGreaterThan(0);
      else expect(ctx(s).token, path).toBeNull();
    },
  });
  parent.stop();
  return report;
}

describe('leader statechart, model-based', () => {
  it('walks every state and transition; the parent is told of every term, the deadline follows each renewal', () => {
    const report = walk({ ttlMs: 12_000, renewEveryMs: 2_000, retryEveryMs: 500, safetyMs: 3_000 }, { ttlMs: 12_000, renewEveryMs: 2_000, retryEveryMs: 500, safetyMs: 3_000 });
    expectFullCoverage(report);
    expect(report.delaysChecked.get('leaseDeadline')).toBeGreaterThan(0);
  });

  it('the production defaults: renew every 3 s, retry every 1 s', () => {
    const report = walk(undefined, { ttlMs: 15_000, renewEveryMs: 3_000, retryEveryMs: 1_000, safetyMs: 4_000 });
    expect(report.delaysChecked.get('renewDelay')).toBeGreaterThan(0);
    expect(report.delaysChecked.get('retryDelay')).toBeGreaterThan(0);
  });

  it('a leader with no parent tells no one, and sends nothing to itself', () => {
    const seen: string[] = [];
    const actor = createActor(machine, {
      input: undefined,
      inspect: (e) => {
        if (e.type === '@xstate.event') seen.push(e.event.type);
      },
    });
    actor.start();
    actor.send({ type: acquire, output: { value: 3, validForMs: 5_000 } } as never);
    expect(actor.getSnapshot().matches('leading')).toBe(true);
    expect(seen.filter((t) => t === 'ELECTED' || t === 'DEPOSED')).toEqual([]);
    actor.stop();
  });
});
