import { describe, expect, it } from 'vitest';
import { fromCallback, type AnyEventObject } from 'xstate';
import { connectionMachine } from '../../src/machines/connection.machine.js';
import { afterEvents, expectFullCoverage, walkModel } from '../helpers/model-walk.js';

// Every state and every transition of the connection statechart, reached by the shortest event
// sequences and replayed on a real actor with an inert socket.

const machine = connectionMachine.provide({ actors: { socket: fromCallback(() => () => undefined) } });

const events: AnyEventObject[] = [
  { type: 'START' },
  { type: 'STOP' },
  { type: 'UPSTREAM_CONNECTED' },
  { type: 'AUTH_SUCCESS' },
  { type: 'AUTH_FAILED', message: 'authentication failed' },
  { type: 'KICKED', message: 'Maximum number of websocket connections exceeded.' },
  { type: 'UPSTREAM_DROPPED', status: 'slow_consumer', message: 'slow consumer' },
  { type: 'UPSTREAM_DROPPED', status: 'auth_timeout', message: 'No authentication request received.' },
  { type: 'SOCKET_CLOSED', code: 1008, reason: '' },
  { type: 'SOCKET_CLOSED', code: 1008, reason: '', recentSendsMs: [1, 2, 3] },
  { type: 'SOCKET_CLOSED', code: 1006, reason: '' },
  { type: 'HEARTBEAT' },
  { type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] },
  { type: 'SEND', action: 'subscribe', symbols: ['AAPL'] },
  { type: 'SYNCED' },
  ...afterEvents(connectionMachine),
];

type Snap = ReturnType<typeof machine.getInitialSnapshot>;

describe('connection statechart, model-based', () => {
  it('walks every state and every transition, and each state keeps its promises', () => {
    const report = walkModel({
      machine,
      events,
      check: (s, path) => {
        const snap = s as unknown as Snap;
        const open = snap.matches('open');
        // The socket lives exactly while `open`.
        expect(Boolean(snap.children.socket), path).toBe(open);
        if (snap.matches('backoff') || snap.matches('kicked')) {
          expect(snap.context.lastClose, path).not.toBeNull();
          // A real wait, never NaN: NaN fires at once, a tight reconnect loop.
          expect(Number.isFinite(snap.context.nextDelayMs), path).toBe(true);
          expect(snap.context.nextDelayMs, path).toBeGreaterThanOrEqual(0);
        }
        if (snap.matches('backoff')) {
          expect(snap.context.attempt, path).toBeGreaterThan(0);
          expect(snap.context.nextDelayMs, path).toBeLessThan(snap.context.settings.backoff.maxMs);
        }
        if (snap.matches('kicked')) {
          expect(snap.context.kicks, path).toBeGreaterThan(0);
          // Never a tight loop after a kick.
          expect(snap.context.nextDelayMs, path).toBeGreaterThanOrEqual(snap.context.settings.kickPenaltyMs);
        }
        if (snap.matches('authFailed')) expect(snap.context.lastError, path).toMatch(/auth_failed/);
        if (snap.matches({ open: { phase: 'live' } })) expect(snap.matches({ open: { handshake: 'done' } }), path).toBe(true);
      },
    });
    expectFullCoverage(report);
    expect(report.paths).toBeGreaterThanOrEqual(10);
    expect(report.defined.size).toBeGreaterThanOrEqual(20);
  });
});
