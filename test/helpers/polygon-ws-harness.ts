import { SimulatedClock, createActor, createMachine, fromCallback, fromPromise, sendParent, type AnyEventObject } from 'xstate';
import { connectionMachine, type ConnectionActor, type ConnectionEvent, type SocketCommand } from '../../src/machines/connection.machine.js';
import { leaderMachine } from '../../src/machines/leader.machine.js';
import { polygonWsMachine, type PolygonWsInput } from '../../src/machines/polygon-ws.machine.js';
import { CONNECTION_ID, RECONCILER_ID } from '../../src/machines/protocol.js';
import { reconcilerMachine, type ReconcilerActor, type ReconcilerEmitted, type SetRead } from '../../src/machines/reconciler.machine.js';

// The polygon-ws actor system with no I/O: a scripted socket, a SET held in memory, and
// XState's simulated clock. Every test of the machines, model-based ones included, drives this.

export interface FakeSocket {
  /** Commands not yet acknowledged (ackAll empties it). */
  commands: SocketCommand[];
  /** Every command this socket received, kept. */
  log: SocketCommand[];
  stopped: boolean;
  send(e: ConnectionEvent): void;
  /** Acknowledge every channel of every SEND so far not yet acknowledged. */
  ackAll(): void;
}

export interface Harness {
  clock: SimulatedClock;
  sockets: FakeSocket[];
  socket(): FakeSocket;
  /** The SET in "Redis": null = missing. */
  set: string[] | null;
  /** Make the next reads fail. */
  failReads: boolean;
  /** Hold reads until released (to interleave hints with an in-flight read). */
  holdReads: boolean;
  releaseReads(): void;
  reads: number;
  nextObs(): number;
  actor: ReturnType<typeof createActor<typeof polygonWsMachine>>;
  conn(): ConnectionActor;
  rec(): ReconcilerActor;
  emitted: ReconcilerEmitted[];
  connState(): string;
  /** Connect and authenticate the current socket. */
  handshake(): void;
  /** Let pending promises (reads) settle. */
  flush(): Promise<void>;
  /** Advance the simulated clock in 1 s steps with a healthy upstream (a heartbeat each step). */
  advance(ms: number): Promise<void>;
  hint(members: Record<string, boolean>, setExists?: boolean): void;
  stop(): void;
}

export const fastSettings: PolygonWsInput = {
  connection: {
    backoff: { baseMs: 100, maxMs: 1_000 },
    youngDeathMs: 2_000,
    kickPenaltyMs: 10_000,
    stableAfterMs: 20_000,
    heartbeatTimeoutMs: 5_000,
    handshakeTimeoutMs: 3_000,
    burstWindowMs: 1_000,
    burstMessages: 3,
  },
  reconciler: {
    intervalMs: 30_000,
    retryMs: 1_000,
    batchSize: 3,
    maxInFlight: 12,
    emptySetGraceMs: 10_000,
    flow: { burstMessages: 2, messagesPerSecond: 10, recoverAfterMs: 10_000, recoverStep: 0.25, minFactor: 1 / 16 },
  },
  seed: 7,
};

export function createHarness(input: PolygonWsInput = fastSettings): Harness {
  const clock = new SimulatedClock();
  const sockets: FakeSocket[] = [];
  let obs = 0;
  let held: (() => void)[] = [];

  const h = {} as Harness;
  const socketLogic = fromCallback<SocketCommand>(({ sendBack, receive }) => {
    const s: FakeSocket = {
      commands: [],
      log: [],
      stopped: false,
      send: (e) => {
        if (!s.stopped) sendBack(e);
      },
      ackAll: () => {
        const subscribed: string[] = [];
        const unsubscribed: string[] = [];
        for (const c of s.commands.splice(0)) {
          if (c.type === 'SEND') (c.action === 'subscribe' ? subscribed : unsubscribed).push(...c.symbols);
        }
        if (subscribed.length || unsubscribed.length) s.send({ type: 'ACKED', subscribed, unsubscribed });
      },
    };
    sockets.push(s);
    receive((cmd) => {
      s.commands.push(cmd);
      s.log.push(cmd);
    });
    return () => {
      s.stopped = true;
    };
  });

  const readDesired = fromPromise<SetRead>(async () => {
    const n = ++obs;
    h.reads++;
    if (h.holdReads) await new Promise<void>((r) => held.push(r));
    if (h.failReads) throw new Error('redis unavailable');
    const members = h.set ?? [];
    return { obs: n, exists: h.set !== null && members.length > 0, members: [...members], at: new Date(clock.now()).toISOString() };
  });

  const machine = polygonWsMachine.provide({
    actors: {
      connection: connectionMachine.provide({ actors: { socket: socketLogic } }),
      reconciler: reconcilerMachine.provide({ actors: { readDesired } }),
      subscriptionEvents: fromCallback(() => () => undefined),
      // Elected at once: the lease itself has its own tests (leader.machine, leader-lease).
      leader: createMachine({ entry: sendParent({ type: 'ELECTED', token: 1 }) }) as unknown as typeof leaderMachine,
    },
  });
  const actor = createActor(machine, { clock, input });
  const emitted: ReconcilerEmitted[] = [];
  actor.subscribe({ error: (err) => { throw err; } });
  actor.start();
  (actor.system.get(RECONCILER_ID) as ReconcilerActor).on('*', (e: ReconcilerEmitted) => emitted.push(e));

  Object.assign(h, {
    clock,
    sockets,
    set: [] as string[] | null,
    failReads: false,
    holdReads: false,
    reads: 0,
    releaseReads: () => {
      const r = held;
      held = [];
      r.forEach((f) => f());
    },
    nextObs: () => ++obs,
    actor,
    emitted,
    socket: () => {
      const s = sockets[sockets.length - 1];
      if (!s) throw new Error('no socket was opened');
      return s;
    },
    conn: () => actor.system.get(CONNECTION_ID) as ConnectionActor,
    rec: () => actor.system.get(RECONCILER_ID) as ReconcilerActor,
    connState: () => {
      const v = (actor.system.get(CONNECTION_ID) as ConnectionActor).getSnapshot().value;
      return typeof v === 'string' ? v : (v as { open: { phase: string } }).open.phase;
    },
    handshake: () => {
      h.socket().send({ type: 'UPSTREAM_CONNECTED' });
      h.socket().send({ type: 'AUTH_SUCCESS' });
    },
    flush: async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    },
    advance: async (ms: number) => {
      for (let left = ms; left > 0; left -= 1_000) {
        const s = sockets[sockets.length - 1];
        if (s && !s.stopped) s.send({ type: 'HEARTBEAT' });
        clock.increment(Math.min(1_000, left));
        await h.flush();
      }
    },
    hint: (members: Record<string, boolean>, setExists = true) => {
      (actor.system.get(RECONCILER_ID) as ReconcilerActor).send({ type: 'HINTS', obs: ++obs, setExists, members });
    },
    stop: () => actor.stop(),
  } satisfies Partial<Harness>);
  return h;
}

/** Acknowledge and advance the pace clock until nothing is pending or in flight. */
export async function drain(h: Harness, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await h.flush();
    h.socket().ackAll();
    const book = h.rec().getSnapshot().context.book;
    if (Object.keys(book.pending).length === 0 && Object.keys(book.inFlight).length === 0) return;
    await h.advance(1_000);
  }
  throw new Error('outbox never drained');
}

export function acked(h: Harness): string[] {
  return Object.keys(h.rec().getSnapshot().context.book.acked).sort();
}

export type { AnyEventObject };
