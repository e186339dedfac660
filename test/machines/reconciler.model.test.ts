import { describe, expect, it } from 'vitest';
import { fromPromise, type AnyEventObject } from 'xstate';
import { reconcilerMachine, type SetRead } from '../../src/machines/reconciler.machine.js';
import { burstOf } from '../../src/subscriptions/flow-control.js';
import { neededAction } from '../../src/subscriptions/subscription-book.js';
import { afterEvents, expectFullCoverage, walkModel } from '../helpers/model-walk.js';

// Every state and transition of the reconciler statechart (four parallel regions), reached by
// the shortest event sequences and replayed on a real actor whose SET reads never settle on
// their own: the walk delivers their results as events.

const machine = reconcilerMachine.provide({ actors: { readDesired: fromPromise<SetRead>(() => new Promise<SetRead>(() => undefined)) } });

const read = (members: string[]): AnyEventObject => ({
  type: 'xstate.done.actor.readDesired',
  output: { obs: 10, exists: members.length > 0, members, at: '2026-01-01T00:00:00.000Z' } satisfies SetRead,
});

const events: AnyEventObject[] = [
  { type: 'CONNECTED' },
  { type: 'DISCONNECTED' },
  { type: 'SLOW_DOWN' },
  { type: 'RATE_CHANGED' },
  { type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] },
  { type: 'ACKED', subscribed: [], unsubscribed: ['AAPL'] },
  { type: 'FORCE' },
  { type: 'HINTS', obs: 100, setExists: true, members: { NIO: true } },
  { type: 'HINTS', obs: 101, setExists: false, members: { NIO: false } },
  { type: 'SET_MISSING' },
  { type: 'SET_PRESENT' },
  { type: 'RESYNC' },
  read(['AAPL']),
  read([]),
  { type: 'xstate.error.actor.readDesired', error: new Error('redis down') },
  ...afterEvents(reconcilerMachine),
];

type Snap = ReturnType<typeof machine.getInitialSnapshot>;

describe('reconciler statechart, model-based', () => {
  it('walks every state and every transition, and each state keeps its promises', () => {
    const report = walkModel({
      machine,
      events,
      check: (s, path) => {
        const snap = s as unknown as Snap;
        const { book, online, emptyAccepted, metrics } = snap.context;
        expect(online, path).toBe(snap.matches({ link: 'online' }));
        expect(emptyAccepted, path).toBe(snap.matches({ presence: 'confirmedEmpty' }));
        if (!online) {
          // Offline, nothing is acknowledged and nothing in flight: the next connection starts clean.
          expect(Object.keys(book.acked), path).toEqual([]);
          expect(Object.keys(book.inFlight), path).toEqual([]);
        }
        // What waits to be sent is exactly what the book still needs.
        for (const [sym, action] of Object.entries(book.pending)) expect(neededAction(book, sym), `${path}: ${sym}`).toBe(action);
        // The bucket never holds more than its burst, nor less than nothing; the factor stays in (0, 1].
        const { flow, settings } = snap.context;
        expect(flow.tokens, path).toBeGreaterThanOrEqual(0);
        expect(flow.tokens, path).toBeLessThanOrEqual(burstOf(settings.flow, flow));
        expect(flow.factor, path).toBeGreaterThan(0);
        expect(flow.factor, path).toBeLessThanOrEqual(1);
        if (snap.matches({ pace: 'steady' })) expect(flow.factor, path).toBe(1);
        if (snap.matches({ bucket: 'refilling' })) expect(metrics.batches_sent + metrics.slow_downs, path).toBeGreaterThan(0);
        // Never more unacknowledged channels than the window.
        expect(Object.keys(book.inFlight).length, path).toBeLessThanOrEqual(settings.maxInFlight);
        // The SET is the only source: desired is unknown until a read after the last connect.
        if (snap.matches({ link: { online: 'inSync' } })) expect(book.desired, path).not.toBeNull();
      },
    });
    expectFullCoverage(report);
  });
});
