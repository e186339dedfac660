import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from './connection.machine.js';
import { leaderMachine } from './leader.machine.js';
import { polygonWsMachine } from './polygon-ws.machine.js';
import { reconcilerMachine } from './reconciler.machine.js';
import { scannerMachine } from './scanner.machine.js';

// Every statechart of livescan: `npm run visualize` draws each into visualizations/, and a test
// fails when a drawing is older than its machine.
export const MACHINES: { name: string; machine: AnyStateMachine; description: string }[] = [
  {
    name: 'connection',
    machine: connectionMachine,
    description: 'polygon-ws: the upstream connection lifecycle: connecting, authenticating, syncing, live; every close attributed to a cause; a prompt return after a connection that lived, escalating only for young deaths; max_connections, auth_failed; heartbeat watchdog.',
  },
  {
    name: 'reconciler',
    machine: reconcilerMachine,
    description: 'polygon-ws: keeps the acknowledged subscriptions equal to the SET: resync on every connect, periodic and forced reconciliation, an outbox under a token bucket and a window of unacknowledged channels, a rate that only evidence lowers (AIMD), missing-SET grace.',
  },
  {
    name: 'leader',
    machine: leaderMachine,
    description: 'polygon-ws: leader election per API key through a Redis lease with a fencing token; steps down before the lease can expire.',
  },
  {
    name: 'polygon-ws',
    machine: polygonWsMachine,
    description: 'polygon-ws: the actor system: the leader election, and while elected the reconciler, the connection and the scanner-event reader side by side.',
  },
  {
    name: 'scanner',
    machine: scannerMachine,
    description: 'scanner: one ranking cycle every SCAN_INTERVAL_MS: fetch the market, rank, publish atomically; retry with backoff.',
  },
];
