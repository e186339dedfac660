import type { Config } from '../config/env.js';
import type { ConnectionSettingsInput } from '../machines/connection.machine.js';
import type { ReconcilerSettingsInput } from '../machines/reconciler.machine.js';

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
