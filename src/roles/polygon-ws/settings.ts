import type { Config } from '../../config/env.js';
import type { ConnectionSettingsInput } from '../../machines/connection.machine.js';
import type { LeaderSettings } from '../../machines/leader.machine.js';
import type { ReconcilerSettingsInput } from '../../machines/reconciler.machine.js';

// From the environment's configuration to the polygon-ws machines' settings, in one place: the
// role runs with exactly this, and a test checks that an empty environment gives the machines'
// own defaults, so a default cannot drift between the two.

export function connectionSettingsFromConfig(config: Config): ConnectionSettingsInput {
  return {
    backoff: { baseMs: config.RECONNECT_PROMPT_MS, maxMs: config.RECONNECT_MAX_MS },
    youngDeathMs: config.YOUNG_DEATH_MS,
    kickPenaltyMs: config.MAX_CONNECTIONS_WAIT_MS,
    stableAfterMs: config.CONNECTION_STABLE_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    handshakeTimeoutMs: config.HANDSHAKE_TIMEOUT_MS,
    burstWindowMs: config.SUBSCRIBE_BLAME_WINDOW_MS,
    burstMessages: config.SUBSCRIBE_BLAME_MESSAGES,
  };
}

export function reconcilerSettingsFromConfig(config: Config): ReconcilerSettingsInput {
  return {
    intervalMs: config.RECONCILE_INTERVAL_MS,
    batchSize: config.SUBSCRIBE_BATCH_SIZE,
    maxInFlight: config.SUBSCRIBE_MAX_IN_FLIGHT,
    emptySetGraceMs: config.EMPTY_SET_GRACE_MS,
    flow: {
      burstMessages: config.SUBSCRIBE_BURST,
      messagesPerSecond: config.SUBSCRIBE_RATE,
      recoverAfterMs: config.SUBSCRIBE_RECOVER_AFTER_MS,
    },
  };
}

/**
 * The lease policy, all from LEADER_TTL_MS. The leader renews five times per TTL, so four
 * renewals in a row can fail before it matters; it steps down once a quarter of the TTL is all
 * that is left (a renewal in flight and clock drift fit in that margin); a standby asks at the
 * renewal pace, at least once a second.
 */
export const LEASE_RENEWALS_PER_TTL = 5;
export const LEASE_SAFETY_SHARE_OF_TTL = 1 / 4;
export const LEASE_RETRY_CEILING_MS = 1_000;

export function leaderSettingsFromConfig(config: Pick<Config, 'LEADER_TTL_MS'>): LeaderSettings {
  const ttlMs = config.LEADER_TTL_MS;
  const renewEveryMs = Math.floor(ttlMs / LEASE_RENEWALS_PER_TTL);
  return {
    ttlMs,
    renewEveryMs,
    retryEveryMs: Math.min(LEASE_RETRY_CEILING_MS, renewEveryMs),
    safetyMs: Math.floor(ttlMs * LEASE_SAFETY_SHARE_OF_TTL),
  };
}

/**
 * How long one lease call (acquire or renew) may take: one renewal period. A half-open Redis
 * connection must not leave the election hanging; the term's deadline protects it regardless.
 */
export function leaseCallTimeoutMs(leader: LeaderSettings): number {
  return leader.renewEveryMs;
}

/** The machines' settings for this configuration, with a caller's overrides (tests, benchmarks) on top. */
export function polygonWsInputOf(
  config: Config,
  over: { connection?: ConnectionSettingsInput; reconciler?: ReconcilerSettingsInput } = {},
): { connection: ConnectionSettingsInput; reconciler: ReconcilerSettingsInput; leader: LeaderSettings } {
  const reconciler = reconcilerSettingsFromConfig(config);
  return {
    connection: { ...connectionSettingsFromConfig(config), ...over.connection },
    reconciler: { ...reconciler, ...over.reconciler, flow: { ...reconciler.flow, ...over.reconciler?.flow } },
    leader: leaderSettingsFromConfig(config),
  };
}
