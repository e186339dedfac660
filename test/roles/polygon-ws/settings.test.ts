import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { connectionSettingsOf, defaultConnectionSettings } from '../../../src/machines/connection.machine.js';
import { defaultReconcilerSettings, reconcilerSettingsOf } from '../../../src/machines/reconciler.machine.js';
import { connectionSettingsFromConfig, leaderSettingsFromConfig, reconcilerSettingsFromConfig } from '../../../src/roles/polygon-ws/settings.js';

// What the role hands the machines is what production runs: an empty environment must give the
// machines' own defaults (which the simulated-clock tests exercise), and each variable must land
// on its own setting.

describe('polygon-ws settings from the environment', () => {
  it('an empty environment gives exactly the machines\' defaults', () => {
    const config = loadConfig({});
    expect(connectionSettingsOf(connectionSettingsFromConfig(config))).toEqual(defaultConnectionSettings);
    expect(reconcilerSettingsOf(reconcilerSettingsFromConfig(config))).toEqual(defaultReconcilerSettings);
  });

  it('each variable lands on its setting', () => {
    const config = loadConfig({
      RECONNECT_PROMPT_MS: '700',
      RECONNECT_MAX_MS: '9000',
      YOUNG_DEATH_MS: '3000',
      MAX_CONNECTIONS_WAIT_MS: '45000',
      CONNECTION_STABLE_MS: '100000',
      HEARTBEAT_TIMEOUT_MS: '40000',
      HANDSHAKE_TIMEOUT_MS: '8000',
      SUBSCRIBE_BLAME_WINDOW_MS: '1500',
      SUBSCRIBE_BLAME_MESSAGES: '4',
      SUBSCRIBE_BATCH_SIZE: '800',
      SUBSCRIBE_BURST: '30',
      SUBSCRIBE_RATE: '7',
      SUBSCRIBE_MAX_IN_FLIGHT: '4000',
      SUBSCRIBE_RECOVER_AFTER_MS: '20000',
      RECONCILE_INTERVAL_MS: '15000',
      EMPTY_SET_GRACE_MS: '5000',
    });
    expect(connectionSettingsOf(connectionSettingsFromConfig(config))).toEqual({
      backoff: { baseMs: 700, maxMs: 9000 },
      youngDeathMs: 3000,
      kickPenaltyMs: 45000,
      stableAfterMs: 100000,
      heartbeatTimeoutMs: 40000,
      handshakeTimeoutMs: 8000,
      burstWindowMs: 1500,
      burstMessages: 4,
    });
    expect(reconcilerSettingsOf(reconcilerSettingsFromConfig(config))).toMatchObject({
      intervalMs: 15000,
      batchSize: 800,
      maxInFlight: 4000,
      emptySetGraceMs: 5000,
      flow: { burstMessages: 30, messagesPerSecond: 7, recoverAfterMs: 20000 },
    });
  });

  it('a reconnect ceiling below the prompt wait is refused at the edge, naming the variable', () => {
    expect(() => loadConfig({ RECONNECT_PROMPT_MS: '5000', RECONNECT_MAX_MS: '1000' })).toThrow(/RECONNECT_MAX_MS must not be below RECONNECT_PROMPT_MS/);
  });

  it('the lease policy from LEADER_TTL_MS: renew 5 times per TTL, step down with a quarter of it left, retry at most every second', () => {
    expect(leaderSettingsFromConfig(loadConfig({}))).toEqual({ ttlMs: 15_000, renewEveryMs: 3_000, retryEveryMs: 1_000, safetyMs: 3_750 });
    expect(leaderSettingsFromConfig(loadConfig({ LEADER_TTL_MS: '3000' }))).toEqual({ ttlMs: 3_000, renewEveryMs: 600, retryEveryMs: 600, safetyMs: 750 });
    // Whatever the TTL: a renewal fits several times in the time a term may last without one.
    for (const ttl of [1_000, 7_777, 600_000]) {
      const s = leaderSettingsFromConfig({ LEADER_TTL_MS: ttl });
      expect(s.ttlMs - s.safetyMs).toBeGreaterThanOrEqual(3 * s.renewEveryMs);
    }
  });
});
