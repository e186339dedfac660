import { describe, it } from 'vitest';
import { fromCallback, fromPromise, type AnyActorRef, type AnyEventObject, type AnyMachineSnapshot } from 'xstate';
import { connectionMachine } from '../../src/machines/connection.machine.js';
import { leaderMachine, type LeaseAnswer } from '../../src/machines/leader.machine.js';
import { LEADER_ID, SUBSCRIPTION_EVENTS_ID, polygonWsMachine, type PolygonWsInput } from '../../src/machines/polygon-ws.machine.js';
import { CONNECTION_ID, RECONCILER_ID } from '../../src/machines/protocol.js';
import { reconcilerMachine, type SetRead } from '../../src/machines/reconciler.machine.js';
import { cheapExpect as expect, expectFullCoverage, walkModel } from '../helpers/model-walk.js';

// The polygon-ws root machine, walked: the leader's notices (delivered by the walk) start and
// stop the three actors of a term; each is started with its part of the input; FORCE reaches the
// reconciler only while running; STOP ends it all. The children are the real machines with
// inert I/O (a socket that never opens, reads and lease calls that never answer).

const never = <T,>() => new Promise<T>(() => undefined);
const machine = polygonWsMachine.provide({
  actors: {
    connection: connectionMachine.provide({ actors: { socket: fromCallback(() => () => undefined) } }),
    reconciler: reconcilerMachine.provide({ actors: { readDesired: fromPromise<SetRead>(() => never()) } }),
    leader: leaderMachine.provide({
      actors: { acquireLease: fromPromise<LeaseAnswer, { token: number }>(() => never()), renewLease: fromPromise<LeaseAnswer, { token: number }>(() => never()) },
    }),
  },
});

const input: PolygonWsInput = {
  connection: { youngDeathMs: 1_234 },
  reconciler: { intervalMs: 4_321 },
  seed: 99,
  leader: { ttlMs: 9_000 },
};

const events: AnyEventObject[] = [{ type: 'ELECTED', token: 7 }, { type: 'ELECTED', token: 8 }, { type: 'DEPOSED' }, { type: 'FORCE' }, { type: 'STOP' }];
const SYSTEM_ID = 'polygonWs';
const TERM = [CONNECTION_ID, RECONCILER_ID, SUBSCRIPTION_EVENTS_ID];
const child = (s: AnyMachineSnapshot, id: string) => s.children[id] as AnyActorRef | undefined;
const token = (s: AnyMachineSnapshot) => (s.context as { token: number | null }).token;

describe('polygon-ws root statechart, model-based', () => {
  it('walks every state and transition: a term starts and stops its actors, FORCE and STOP reach the right ones', () => {
    const report = walkModel({
      machine,
      input,
      events,
      systemId: SYSTEM_ID,
      maxDepth: 4,
      delays: {},
      step: (r, path) => {
        const { before, after, event } = r;
        const elected = before.matches('standby') && event.type === 'ELECTED';
        if (elected) {
          expect(after.value, path).toBe('running');
          expect(token(after), path).toBe(event.token);
        }
        // A new term starts the connection at once; FORCE goes to the reconciler; nothing else is sent.
        const expected = [
          ...(elected ? [{ to: CONNECTION_ID, event: { type: 'START' } }] : []),
          ...(event.type === 'FORCE' && before.matches('running') ? [{ to: RECONCILER_ID, event: { type: 'FORCE' } }] : []),
        ];
        expect(r.sent, path).toEqual(expected);
        if (event.type === 'DEPOSED') expect([after.value, token(after)], path).toEqual(['standby', null]);
        if (event.type === 'STOP') expect([after.status, after.value], path).toEqual(['done', 'stopped']);
      },
      check: (s, path) => {
        if (s.status === 'done') return;
        // The leader runs for the whole life of the system and is told whom to notify: this machine.
        const leader = child(s, LEADER_ID);
        expect(leader !== undefined, `${path}: leader`).toBe(true);
        const lc = leader!.getSnapshot().context as { parent: AnyActorRef | null; settings: { ttlMs: number; renewEveryMs: number } };
        expect(lc.parent?.id, `${path}: the leader's parent`).toBe(SYSTEM_ID);
        expect([lc.settings.ttlMs, lc.settings.renewEveryMs], path).toEqual([9_000, 3_000]);
        // The term's three actors exist exactly while running, each with its part of the input.
        const running = s.matches('running');
        for (const id of TERM) expect(child(s, id) !== undefined, `${path}: ${id}`).toBe(running);
        expect(token(s) !== null, path).toBe(running);
        // A term is only ever ended by DEPOSED: an ELECTED while running is not taken.
        expect(s.can({ type: 'ELECTED', token: 9 }), `${path}: ELECTED taken`).toBe(!running);
        if (running) {
          const conn = child(s, CONNECTION_ID)!.getSnapshot() as AnyMachineSnapshot;
          expect(conn.matches('open'), `${path}: the connection was started`).toBe(true);
          const cc = conn.context as { settings: { youngDeathMs: number; heartbeatTimeoutMs: number }; seed: number };
          expect([cc.settings.youngDeathMs, cc.settings.heartbeatTimeoutMs, cc.seed], path).toEqual([1_234, 45_000, 99]);
          const rc = (child(s, RECONCILER_ID)!.getSnapshot() as AnyMachineSnapshot).context as { settings: { intervalMs: number; retryMs: number } };
          expect([rc.settings.intervalMs, rc.settings.retryMs], path).toEqual([4_321, 1_000]);
        }
      },
    });
    expectFullCoverage(report);
  });
});
