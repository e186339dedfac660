import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { fromPromise } from 'xstate';
import type { Config } from '../../config/env.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import { leaderMachine, type LeaderSettings, type LeaseAnswer } from '../../machines/leader.machine.js';
import { polygonWsMachine } from '../../machines/polygon-ws.machine.js';
import { reconcilerMachine } from '../../machines/reconciler.machine.js';
import { createActiveSet } from '../../services/active-set.js';
import { createAggregatePublisher } from '../../services/aggregate-publisher.js';
import type { LeaderLease } from '../../services/leader-lease.js';
import { createPolygonSocket, type PolygonSocketService, type SocketStats } from '../../services/polygon-socket.js';
import { createSubscriptionEvents, type SubscriptionEventsService } from '../../services/subscription-events.js';
import type { Logger } from '../../shared/logger.js';
import { SUBSCRIPTIONS_GROUP, SUBSCRIPTIONS_STREAM } from '../../shared/redis-keys.js';
import { withTimeout } from '../../shared/with-timeout.js';
import type { Fence } from './fence.js';
import { leaseCallTimeoutMs } from './settings.js';

// The I/O the polygon-ws machines run, provided at creation: the upstream socket, the SET
// reader, the scanner-event reader and the lease calls. Every Redis write goes through the fence.

export interface PolygonWsActorDeps {
  config: Config;
  log: Logger;
  /** The commands connection: the SET is read (and checked) on it. */
  main: Redis;
  /** A new blocking connection for each run of the event reader. */
  connectEvents: () => Redis;
  fence: Fence;
  lease: LeaderLease;
  leader: LeaderSettings;
  socket: PolygonSocketService;
  /** A reconciliation's SET read starts. */
  readStarted: () => void;
}

export interface PolygonWsActors {
  machine: typeof polygonWsMachine;
  subscriptionEvents: SubscriptionEventsService;
}

/** The upstream socket; its aggregates go straight to the stream, fenced, if still wanted. */
export function createUpstreamSocket(deps: {
  config: Config;
  log: Logger;
  fence: Fence;
  /** Aggregate writes: fire-and-forget, apart from the commands connection. */
  publisherRedis: Redis;
  /** The socket's message counts and last error. */
  stats: SocketStats;
  /** Whether an aggregate's symbol is still wanted (the current term's book). */
  isWanted: (symbol: string) => boolean;
}): PolygonSocketService {
  const { config, log } = deps;
  return createPolygonSocket({
    url: config.POLYGON_WS_URL,
    apiKey: config.POLYGON_API_KEY,
    log,
    stats: deps.stats,
    onAggregates: createAggregatePublisher({
      write: (commands) => deps.fence.write(deps.publisherRedis, commands),
      maxLen: config.AGGREGATES_MAXLEN,
      isWanted: deps.isWanted,
      log,
    }),
  });
}

export function createPolygonWsActors(deps: PolygonWsActorDeps): PolygonWsActors {
  const { config, log, fence, lease, socket } = deps;
  const activeSet = createActiveSet(deps.main, log);
  const subscriptionEvents = createSubscriptionEvents({
    connect: deps.connectEvents,
    ack: (redis, ids) => fence.write(redis, [['XACK', SUBSCRIPTIONS_STREAM, SUBSCRIPTIONS_GROUP, ...ids]]),
    activeSet,
    consumer: config.POLYGON_WS_CONSUMER || `polygon-ws-${hostname()}`,
    log,
  });
  const leaseTimeout = leaseCallTimeoutMs(deps.leader);

  const machine = polygonWsMachine.provide({
    actors: {
      connection: connectionMachine.provide({ actors: { socket: socket.logic } }),
      reconciler: reconcilerMachine.provide({
        actors: {
          readDesired: fromPromise(() => {
            deps.readStarted();
            return activeSet.read();
          }),
        },
      }),
      subscriptionEvents: subscriptionEvents.logic,
      leader: leaderMachine.provide({
        actors: {
          acquireLease: fromPromise(() => withTimeout(lease.acquire(), leaseTimeout, 'acquiring the lease')),
          renewLease: fromPromise<LeaseAnswer, { token: number }>(({ input }) => withTimeout(lease.renew(input.token), leaseTimeout, 'renewing the lease')),
        },
      }),
    },
  });
  return { machine, subscriptionEvents };
}
