import { assign, fromCallback, sendTo, setup, type ActorRefFrom } from 'xstate';
import { connectionMachine, type ConnectionSettingsInput } from './connection.machine.js';
import { leaderMachine, type LeaderNotice, type LeaderSettings } from './leader.machine.js';
import { CONNECTION_ID, RECONCILER_ID } from './protocol.js';
import { reconcilerMachine, type ReconcilerSettingsInput } from './reconciler.machine.js';

// The polygon-ws actor system: the reconciler, the connection and the scanner-event reader,
// each registered under a system id so they address each other by name. The services that do
// I/O are provided by src/roles/polygon-ws/actors.ts; tests provide their own.

export const SUBSCRIPTION_EVENTS_ID = 'subscriptionEvents';
export const LEADER_ID = 'leader';

export interface PolygonWsInput {
  connection?: ConnectionSettingsInput;
  reconciler?: ReconcilerSettingsInput;
  /** Seed of the reconnect jitter: random in production, fixed in tests so a run replays. */
  seed?: number;
  leader?: Partial<LeaderSettings>;
}

export type PolygonWsEvent = { type: 'FORCE' } | { type: 'STOP' } | LeaderNotice;

const noEvents = fromCallback(() => () => undefined);

export const polygonWsMachine = setup({
  types: {
    input: {} as PolygonWsInput | undefined,
    context: {} as { input: PolygonWsInput; token: number | null },
    events: {} as PolygonWsEvent,
  },
  actors: {
    connection: connectionMachine,
    reconciler: reconcilerMachine,
    subscriptionEvents: noEvents,
    leader: leaderMachine,
  },
}).createMachine({
  id: 'polygonWs',
  context: ({ input }) => ({ input: input ?? {}, token: null }),
  // Only the elected leader of the API key holds the upstream connection and reads the scanner's
  // events; a standby waits for the lease. Losing it stops all three, socket first.
  // The leader is told where to send ELECTED and DEPOSED: this machine.
  invoke: { id: LEADER_ID, systemId: LEADER_ID, src: 'leader', input: ({ context, self }) => ({ settings: context.input.leader, parent: self }) },
  initial: 'standby',
  on: { STOP: '.stopped' },
  states: {
    standby: {
      entry: assign({ token: null }),
      on: { ELECTED: { target: 'running', actions: assign({ token: ({ event }) => event.token }) } },
    },
    running: {
      // The reconciler first: the connection and the event reader send to it from their start.
      invoke: [
        { id: RECONCILER_ID, systemId: RECONCILER_ID, src: 'reconciler', input: ({ context }) => ({ settings: context.input.reconciler }) },
        { id: CONNECTION_ID, systemId: CONNECTION_ID, src: 'connection', input: ({ context }) => ({ settings: context.input.connection, seed: context.input.seed }) },
        { id: SUBSCRIPTION_EVENTS_ID, systemId: SUBSCRIPTION_EVENTS_ID, src: 'subscriptionEvents' },
      ],
      entry: sendTo(CONNECTION_ID, { type: 'START' }),
      on: {
        FORCE: { actions: sendTo(RECONCILER_ID, { type: 'FORCE' }) },
        // Leaving `running` stops the children: the socket actor's cleanup closes the upstream
        // with 1000, the event reader stops reading (what it did not acknowledge stays pending).
        DEPOSED: 'standby',
      },
    },
    stopped: { type: 'final' },
  },
});

export type PolygonWsActor = ActorRefFrom<typeof polygonWsMachine>;
