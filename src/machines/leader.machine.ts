import { assign, emit, enqueueActions, fromPromise, raise, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';

// One polygon-ws per API key holds the upstream connection: the leader, elected through a Redis
// lease (set-if-absent with expiry) that carries a fencing token. The leader renews it; one that
// cannot renew steps down before the lease can expire, so a standby that takes the lease after
// expiry never finds the old leader still connected. Redis is the coordination engine; the
// lease actors are provided by src/services/leader-lease.ts.

export interface LeaderSettings {
  /** The lease's time to live in Redis. */
  ttlMs: number;
  /** How often the leader renews. */
  renewEveryMs: number;
  /** How often a standby tries to take the lease. */
  retryEveryMs: number;
  /**
   * A leader that has not renewed for ttlMs − safetyMs steps down: the margin covers a renewal
   * in flight and clock drift between this process and Redis.
   */
  safetyMs: number;
}

export const defaultLeaderSettings: LeaderSettings = { ttlMs: 15_000, renewEveryMs: 3_000, retryEveryMs: 1_000, safetyMs: 4_000 };

/** A lease call's answer: the value (token, or 1/0 for a renewal) and how long it is safe to act on. */
export interface LeaseAnswer {
  value: number;
  validForMs: number;
}

export interface LeaderContext {
  settings: LeaderSettings;
  /** From the last acquire/renew answer: how long this term may last without another renewal. */
  validForMs: number;
  /** The fencing token of the current term; null while not leading. */
  token: number | null;
  terms: number;
  lastError: string | null;
  /** Told ELECTED and DEPOSED: the polygon-ws system, which passes itself in; none when the leader runs alone. */
  parent: AnyActorRef | null;
}

export interface LeaderInput {
  settings?: Partial<LeaderSettings>;
  parent?: AnyActorRef;
}

export type LeaderEvent = { type: 'RENEWED' };

/** What the parent (the polygon-ws system) is told. */
export type LeaderNotice = { type: 'ELECTED'; token: number } | { type: 'DEPOSED' };

export type LeaderEmitted =
  | { type: 'elected'; token: number; term: number }
  | { type: 'deposed'; token: number | null; reason: 'lost' | 'deadline' }
  | { type: 'lease_error'; error: string };

const noAcquire = fromPromise<LeaseAnswer, { token: number }>(() => Promise.reject(new Error('acquireLease not provided')));
const noRenew = fromPromise<LeaseAnswer, { token: number }>(() => Promise.reject(new Error('renewLease not provided')));

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export const leaderMachine = setup({
  types: {
    context: {} as LeaderContext,
    events: {} as LeaderEvent,
    input: {} as LeaderInput | undefined,
    emitted: {} as LeaderEmitted,
  },
  actors: {
    /** Resolves to the fencing token when the lease was taken, 0 when someone else holds it. */
    acquireLease: noAcquire,
    /** Resolves true when the lease is still ours and was extended. */
    renewLease: noRenew,
  },
  delays: {
    retryDelay: ({ context }) => context.settings.retryEveryMs,
    renewDelay: ({ context }) => context.settings.renewEveryMs,
    // Counted from when the last successful call was sent (the lease service measures it).
    leaseDeadline: ({ context }) => Math.max(0, context.validForMs),
  },
  guards: {
    // An answer that came back too late to act on counts as no lease at all.
    tookLease: (_, a: LeaseAnswer) => a.value > 0 && a.validForMs > 0,
    stillOurs: (_, a: LeaseAnswer) => a.value === 1 && a.validForMs > 0,
  },
  actions: {
    // The parent is given in the input (public and documented, unlike reading XState's private parent field);
    // alone (tests, the model walk) there is none to tell.
    // (`sendTo` an undefined target would deliver to the leader itself, hence the check.)
    notifyParent: enqueueActions(({ enqueue, context }, notice: LeaderNotice) => {
      if (context.parent) enqueue.sendTo(context.parent, notice);
    }),
    leaseError: assign({ lastError: (_, p: { error: unknown }) => errorText(p.error) }),
    emitLeaseError: emit((_, p: { error: unknown }) => ({ type: 'lease_error' as const, error: errorText(p.error) })),
  },
}).createMachine({
  id: 'leader',
  context: ({ input }) => ({
    settings: { ...defaultLeaderSettings, ...input?.settings },
    token: null,
    validForMs: 0,
    terms: 0,
    lastError: null,
    parent: input?.parent ?? null,
  }),
  initial: 'campaigning',
  states: {
    campaigning: {
      invoke: {
        src: 'acquireLease',
        input: () => ({ token: 0 }),
        onDone: [
          {
            guard: { type: 'tookLease', params: ({ event }) => event.output },
            target: 'leading',
            actions: assign({ token: ({ event }) => event.output.value, validForMs: ({ event }) => event.output.validForMs, terms: ({ context }) => context.terms + 1, lastError: null }),
          },
          { target: 'standby' },
        ],
        onError: {
          target: 'standby',
          actions: [
            { type: 'leaseError', params: ({ event }) => ({ error: event.error }) },
            { type: 'emitLeaseError', params: ({ event }) => ({ error: event.error }) },
          ],
        },
      },
    },
    standby: {
      after: { retryDelay: 'campaigning' },
    },
    leading: {
      type: 'parallel',
      entry: [
        { type: 'notifyParent', params: ({ context }) => ({ type: 'ELECTED', token: context.token ?? 0 }) },
        emit(({ context }) => ({ type: 'elected' as const, token: context.token ?? 0, term: context.terms })),
      ],
      // Whatever ends the term, the upstream connection goes first.
      exit: { type: 'notifyParent', params: { type: 'DEPOSED' } },
      states: {
        renewal: {
          initial: 'resting',
          states: {
            resting: { after: { renewDelay: 'renewing' } },
            renewing: {
              invoke: {
                src: 'renewLease',
                input: ({ context }) => ({ token: context.token ?? 0 }),
                onDone: [
                  {
                    guard: { type: 'stillOurs', params: ({ event }) => event.output },
                    target: 'resting',
                    actions: [assign({ validForMs: ({ event }) => event.output.validForMs }), raise({ type: 'RENEWED' })],
                  },
                  {
                    target: '#leader.standby',
                    actions: [
                      emit(({ context }) => ({ type: 'deposed' as const, token: context.token, reason: 'lost' as const })),
                      assign({ token: null }),
                    ],
                  },
                ],
                // Redis unreachable: keep trying until the deadline decides.
                onError: {
                  target: 'resting',
                  actions: [
                    { type: 'leaseError', params: ({ event }) => ({ error: event.error }) },
                    { type: 'emitLeaseError', params: ({ event }) => ({ error: event.error }) },
                  ],
                },
              },
            },
          },
        },
        deadline: {
          initial: 'counting',
          states: {
            counting: {
              on: { RENEWED: { target: 'counting', reenter: true } },
              after: {
                leaseDeadline: {
                  target: '#leader.standby',
                  actions: [
                    emit(({ context }) => ({ type: 'deposed' as const, token: context.token, reason: 'deadline' as const })),
                    assign({ token: null }),
                  ],
                },
              },
            },
          },
        },
      },
    },
  },
});

export type LeaderMachine = typeof leaderMachine;
export type LeaderActor = ActorRefFrom<LeaderMachine>;
