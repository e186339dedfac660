import { describe, it } from 'vitest';
import { fromCallback, type AnyEventObject, type AnyMachineSnapshot } from 'xstate';
import { closeOf, connectionMachine, type ConnectionContext, type ConnectionSettingsInput } from '../../src/machines/connection.machine.js';
import { RECONCILER_ID } from '../../src/machines/protocol.js';
import { TICK, cheapExpect as expect, expectFullCoverage, walkModel, type StepRecord } from '../helpers/model-walk.js';

// Every state and transition of the connection statechart, walked on a real actor with an inert
// socket and a recording reconciler, the simulated clock advanced by each armed delay. Each step's
// outputs are checked against a model of the protocol: what the reconciler and the socket are
// told, what is emitted, how each close is attributed and how long the next attempt waits.

const machine = connectionMachine.provide({ actors: { socket: fromCallback(() => () => undefined) } });

const events: AnyEventObject[] = [
  { type: 'START' },
  { type: 'STOP' },
  { type: 'UPSTREAM_CONNECTED' },
  { type: 'AUTH_SUCCESS' },
  { type: 'AUTH_FAILED', message: 'authentication failed' },
  { type: 'KICKED', message: 'Maximum number of websocket connections exceeded.' },
  { type: 'UPSTREAM_DROPPED', status: 'slow_consumer', message: 'slow consumer' },
  { type: 'SOCKET_CLOSED', code: 1008, reason: 'policy' },
  // Three of our messages within the burst window (one on its very edge), one outside it.
  { type: 'SOCKET_CLOSED', code: 1008, reason: 'burst', recentSendsMs: [1, 2, 1_000, 60_000] },
  // One message before a bare 1008: no burst.
  { type: 'SOCKET_CLOSED', code: 1008, reason: 'after one', recentSendsMs: [1] },
  { type: 'SOCKET_CLOSED', code: 1006, reason: 'gone', recentSendsMs: [1, 2, 3] },
  { type: 'HEARTBEAT' },
  { type: 'ACKED', subscribed: ['AAPL'], unsubscribed: [] },
  { type: 'SEND', action: 'subscribe', symbols: ['AAPL'] },
  { type: 'SYNCED' },
];

type Ctx = ConnectionContext;
const ctx = (s: AnyMachineSnapshot) => s.context as Ctx;

interface Expected {
  backoff: { baseMs: number; maxMs: number };
  youngDeathMs: number;
  kickPenaltyMs: number;
  stableAfterMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  burstWindowMs: number;
  burstMessages: number;
}

/** The delays, from the settings as the test states them (not as the machine read them). */
function delaysOf(x: Expected) {
  return {
    heartbeatTimeout: () => x.heartbeatTimeoutMs,
    handshakeTimeout: () => x.handshakeTimeoutMs,
    stablePeriod: () => x.stableAfterMs,
    youngDeath: () => x.youngDeathMs,
    burstWindow: () => x.burstWindowMs,
    reconnectDelay: (s: AnyMachineSnapshot): [number, number] => {
      const c = ctx(s);
      if (s.matches('kicked')) {
        const base = x.kickPenaltyMs * 2 ** Math.min(3, c.kicks - 1);
        return [base, base * 1.5];
      }
      return [0, Math.min(x.backoff.maxMs, x.backoff.baseMs * 2 ** Math.max(0, c.attempt - 1))];
    },
  };
}

const CODES: Record<string, number> = { heartbeat: 4000, handshake_timeout: 4001 };
const REASONS: Record<string, string> = { heartbeat: 'heartbeat_timeout', handshake_timeout: 'handshake_timeout' };

/** What each transition must do, whatever the settings. */
function checkStep(r: StepRecord, path: string, x: Expected): void {
  const { before, after, event } = r;
  const b = ctx(before);
  const a = ctx(after);
  const toReconciler = r.sent.filter((m) => m.to === RECONCILER_ID).map((m) => m.event);
  const toSocket = r.sent.filter((m) => m.to === 'socket').map((m) => m.event);
  const emitted = (type: string) => r.emitted.filter((e) => e.type === type);
  const wasOpen = before.matches('open');
  const closed = wasOpen && !after.matches('open');

  // STOP ends the machine from anywhere, for good.
  if (event.type === 'STOP') {
    expect(after.status, path).toBe('done');
    expect(after.value, path).toBe('stopped');
  }
  if (before.status === 'done') throw new Error(`${path}: a stopped machine took a step`);

  // The reconciler: CONNECTED exactly on auth_success, DISCONNECTED exactly when the connection
  // ends, SLOW_DOWN exactly when our burst is blamed, acks forwarded while open.
  const connected = before.matches({ open: { phase: 'authenticating' } }) && event.type === 'AUTH_SUCCESS';
  expect(toReconciler.filter((e) => e.type === 'CONNECTED').length, `${path}: CONNECTED`).toBe(connected ? 1 : 0);
  expect(toReconciler.filter((e) => e.type === 'DISCONNECTED').length, `${path}: DISCONNECTED`).toBe(closed ? 1 : 0);
  const blamed = closed && event.type !== 'STOP' && a.lastClose?.cause === 'sent_burst';
  expect(toReconciler.filter((e) => e.type === 'SLOW_DOWN'), `${path}: SLOW_DOWN`).toEqual(blamed ? [{ type: 'SLOW_DOWN', recentSends: a.lastClose?.recentSends }] : []);
  const acks = wasOpen && event.type === 'ACKED';
  expect(toReconciler.filter((e) => e.type === 'ACKED'), `${path}: acks forwarded`).toEqual(acks ? [event] : []);
  expect(emitted('connected'), path).toEqual(connected ? [{ type: 'connected', attempt: b.attempt }] : []);

  // The socket: AUTHENTICATE once it opens, our messages only once authenticated.
  const authenticate = before.matches({ open: { phase: 'connecting' } }) && event.type === 'UPSTREAM_CONNECTED';
  expect(toSocket.filter((e) => e.type === 'AUTHENTICATE').length, `${path}: AUTHENTICATE`).toBe(authenticate ? 1 : 0);
  const forwards = event.type === 'SEND' && (before.matches({ open: { phase: 'syncing' } }) || before.matches({ open: { phase: 'live' } }));
  expect(toSocket.filter((e) => e.type === 'SEND'), `${path}: SEND forwarded`).toEqual(
    forwards && event.type === 'SEND' ? [{ type: 'SEND', action: event.action, symbols: event.symbols }] : [],
  );

  // Live only after SYNCED, announced once.
  const live = !before.matches({ open: { phase: 'live' } }) && after.matches({ open: { phase: 'live' } });
  if (live) expect(event.type, path).toBe('SYNCED');
  expect(emitted('live').length, `${path}: live`).toBe(live ? 1 : 0);
  if (event.type === 'SEND' && wasOpen && after.matches('open')) {
    expect(a.windowSends, `${path}: sends counted`).toBe(before.matches({ open: { sends: 'quiet' } }) ? 1 : b.windowSends + 1);
  }

  // A sign of life restarts the watchdog: a fresh full timeout.
  if (event.type === 'HEARTBEAT' && after.matches('open')) expect(r.armed.filter((t) => t.type.includes('heartbeatTimeout')).length, `${path}: watchdog restarted`).toBe(1);

  // Timers: the burst window proves the burst, maturity, forgotten kicks.
  if (r.fired?.type.includes('burstWindow')) {
    expect(a.provenBurst, path).toBe(Math.max(b.provenBurst, b.windowSends));
    expect(a.windowSends, path).toBe(0);
  }
  if (r.fired?.type.includes('youngDeath')) expect(a.matured, path).toBe(true);
  const stable = r.fired?.type.includes('stablePeriod') === true;
  expect(emitted('stable').length, `${path}: stable`).toBe(stable ? 1 : 0);
  if (stable) expect(a.kicks, path).toBe(0);
  if (r.fired?.type.includes('reconnectDelay')) expect(after.matches({ open: { phase: 'connecting' } }), path).toBe(true);

  // Every close: attributed to its cause, counted, and answered by the right wait.
  const disconnected = emitted('disconnected');
  if (!closed || event.type === 'STOP') {
    expect(disconnected, `${path}: disconnected`).toEqual([]);
    expect(emitted('reconnecting'), path).toEqual([]);
    return;
  }
  const timeout = r.fired?.type.includes('heartbeatTimeout') ? 'heartbeat' : r.fired?.type.includes('handshakeTimeout') ? 'handshake_timeout' : null;
  let cause: string;
  let code: number;
  let reason: string;
  let error: string | null = b.lastError;
  let recentSends = 0;
  if (timeout) {
    [cause, code, reason] = [timeout, CODES[timeout]!, REASONS[timeout]!];
    error = timeout === 'heartbeat' ? 'upstream silent: heartbeat timeout' : 'no auth_success within the handshake timeout';
  } else if (event.type === 'KICKED') [cause, code, reason, error] = ['max_connections', 1008, event.message as string, `max_connections: ${event.message}`];
  else if (event.type === 'AUTH_FAILED') [cause, code, reason, error] = ['auth_failed', 1008, event.message as string, `auth_failed: ${event.message}`];
  else if (event.type === 'UPSTREAM_DROPPED') [cause, code, reason, error] = [event.status as string, 1008, event.status as string, `${event.status}: ${event.message}`];
  else if (event.type === 'SOCKET_CLOSED') {
    code = event.code as number;
    reason = event.reason as string;
    recentSends = ((event.recentSendsMs as number[] | undefined) ?? []).filter((ago) => ago <= x.burstWindowMs).length;
    cause = !b.opened ? 'connect_failed' : code !== 1008 ? 'network' : recentSends >= x.burstMessages && recentSends > b.provenBurst ? 'sent_burst' : 'policy';
  } else throw new Error(`${path}: an unexpected close`);
  expect(disconnected, `${path}: disconnected`).toEqual([{ type: 'disconnected', code, reason, cause, matured: b.matured, recentSends }]);
  expect(a.lastClose, path).toEqual({ code, reason, cause, matured: b.matured, recentSends });
  expect(a.lastError, `${path}: lastError`).toBe(error);
  const kick = cause === 'max_connections';
  expect(a.kicks, `${path}: kicks`).toBe(kick ? b.kicks + 1 : b.kicks);
  expect(a.attempt, `${path}: attempt`).toBe(kick ? b.attempt : b.matured ? 1 : b.attempt + 1);
  expect(emitted('kicked'), path).toEqual(kick ? [{ type: 'kicked', message: event.message, kicks: b.kicks + 1 }] : []);
  if (cause === 'auth_failed') {
    expect(after.value, path).toBe('authFailed');
    expect(emitted('auth_failed'), path).toEqual([{ type: 'auth_failed', message: event.message }]);
    expect(a.lastError, path).toBe(`auth_failed: ${event.message}`);
    expect(emitted('reconnecting'), path).toEqual([]);
    return;
  }
  expect(after.value, path).toBe(kick ? 'kicked' : 'backoff');
  // The wait logged is the wait applied, and its kind follows the cause.
  const kind = kick ? 'kick' : a.attempt <= 1 ? 'prompt' : 'escalated';
  expect(emitted('reconnecting'), path).toEqual([{ type: 'reconnecting', attempt: a.attempt, delay_ms: a.nextDelayMs, kind, cause }]);
  expect(r.armed.filter((t) => t.type.includes('reconnectDelay')).map((t) => t.delay), path).toEqual([a.nextDelayMs]);
  if (timeout) expect(a.lastError, path).toMatch(timeout === 'heartbeat' ? /heartbeat timeout/ : /handshake timeout/);
}

/** Context that changes what comes next: strikes, kicks, maturity, bursts. */
const key = (s: AnyMachineSnapshot) => {
  const c = ctx(s);
  return [Math.min(c.attempt, 3), Math.min(c.kicks, 2), c.matured, c.opened, c.windowSends > 0, c.provenBurst];
};

function walk(input: { settings?: ConnectionSettingsInput; seed?: number } | undefined, x: Expected, maxDepth: number, starts?: AnyEventObject[][]) {
  return walkModel({
    machine,
    input,
    events,
    systemId: 'connection',
    peers: [RECONCILER_ID],
    key,
    maxDepth,
    starts,
    delays: delaysOf(x),
    step: (r, path) => checkStep(r, path, x),
    check: (s, path) => {
      // The socket lives exactly while `open`.
      expect(Boolean(s.children.socket), path).toBe(s.matches('open'));
      const c = ctx(s);
      if (s.matches('idle')) expect([c.attempt, c.kicks, c.matured, c.opened, c.windowSends, c.lastClose, c.lastError], path).toEqual([0, 0, false, false, 0, null, null]);
      if (s.matches('open')) {
        // The mirrors in context agree with the regions they mirror, on every (re)entry.
        expect(c.opened, `${path}: opened`).toBe(!s.matches({ open: { phase: 'connecting' } }));
        expect(c.matured, `${path}: matured`).toBe(s.matches({ open: { age: 'mature' } }));
        expect(c.windowSends > 0, `${path}: windowSends`).toBe(s.matches({ open: { sends: 'counting' } }));
        // The watchdog takes a sign of life in every phase.
        expect(s.can({ type: 'HEARTBEAT' }), `${path}: HEARTBEAT`).toBe(true);
      }
      if (s.matches({ open: { phase: 'live' } })) expect(s.matches({ open: { handshake: 'done' } }), path).toBe(true);
    },
  });
}

const fast: Expected = {
  backoff: { baseMs: 100, maxMs: 1_000 },
  youngDeathMs: 2_000,
  kickPenaltyMs: 10_000,
  stableAfterMs: 20_000,
  // Longer than the stable period, so that a quiet but healthy `live` reaches it.
  heartbeatTimeoutMs: 30_000,
  handshakeTimeoutMs: 3_000,
  burstWindowMs: 1_000,
  burstMessages: 3,
};

describe('connection statechart, model-based', () => {
  it('walks every state and transition on the simulated clock; every step keeps the protocol', () => {
    const report = walk({ settings: fast, seed: 7 }, fast, 6);
    expectFullCoverage(report);
    expect(report.ticks).toBeGreaterThan(50);
    for (const d of ['reconnectDelay', 'heartbeatTimeout', 'handshakeTimeout', 'stablePeriod', 'youngDeath', 'burstWindow']) {
      expect(report.delaysChecked.get(d), d).toBeGreaterThan(0);
    }
  });

  it('with the production defaults (no settings at all), every delay is the documented one', () => {
    // Stated here, not read from the machine: a wrong or NaN default fails.
    const defaults: Expected = {
      backoff: { baseMs: 500, maxMs: 30_000 },
      youngDeathMs: 5_000,
      kickPenaltyMs: 60_000,
      stableAfterMs: 120_000,
      heartbeatTimeoutMs: 45_000,
      handshakeTimeoutMs: 10_000,
      burstWindowMs: 1_000,
      burstMessages: 3,
    };
    const report = walk(undefined, defaults, 4);
    expect(report.delaysChecked.get('reconnectDelay')).toBeGreaterThan(0);
    expect(report.delaysChecked.get('stablePeriod')).toBeGreaterThan(0);
  });
});

describe('connection statechart, paths deeper than the walk', () => {
  const [START, CONNECTED, AUTH, SEND, SYNCED] = [{ type: 'START' }, { type: 'UPSTREAM_CONNECTED' }, { type: 'AUTH_SUCCESS' }, events[12]!, { type: 'SYNCED' }];
  const KICK = events[5]!;

  it('a burst the upstream took is no evidence; kicks are forgotten once live has lasted', () => {
    const report = walk({ settings: fast, seed: 3 }, fast, 2, [
      // Three messages in one window, outlived: a later close after three is a plain policy close.
      [START, CONNECTED, AUTH, SEND, SEND, SEND, TICK],
      // Kicked, back, live and mature, then stable: the next kick waits the first penalty again.
      [START, CONNECTED, AUTH, KICK, TICK, CONNECTED, AUTH, SYNCED, TICK],
    ]);
    expect(report.delaysChecked.get('stablePeriod')).toBeGreaterThan(0);
  });

  it('alone (no reconciler registered) it tells no one, and never sends anything to itself', () => {
    // XState delivers a send to a missing actor to the sender itself: an ACKED would loop.
    const report = walkModel({
      machine,
      input: { settings: fast, seed: 7 },
      events,
      systemId: 'connection',
      maxDepth: 5,
      delays: delaysOf(fast),
      step: (r, path) => {
        expect(r.sent.filter((m) => m.to !== 'socket'), path).toEqual([]);
        expect(r.after.status === 'error', path).toBe(false);
      },
    });
    // Every step that would tell the reconciler something was taken.
    for (const e of ['AUTH_SUCCESS', 'ACKED', 'SOCKET_CLOSED', 'KICKED']) expect([...report.transitionsTaken].some((t) => t.includes(`--${e}`)), e).toBe(true);
  });
});

describe('close attribution (closeOf)', () => {
  // Read inside the tests, not when the file is collected: a broken default must fail a test.
  const settings = { ...fast, backoff: { ...fast.backoff } };
  const closed = (recentSendsMs: number[]) => ({ type: 'SOCKET_CLOSED' as const, code: 1008, reason: '', recentSendsMs });
  const cause = (opened: boolean, provenBurst: number, e: ReturnType<typeof closed> | { type: 'SOCKET_CLOSED'; code: number; reason: string }) =>
    closeOf({ settings, opened, provenBurst }, e).cause;

  it('a bare 1008 is blamed on our sends only after a burst larger than any the upstream took', () => {
    expect(cause(true, 0, closed([1, 2, 3]))).toBe('sent_burst');
    expect(cause(true, 2, closed([1, 2, 3]))).toBe('sent_burst');
    // No larger than a burst the upstream already took.
    expect(cause(true, 3, closed([1, 2, 3]))).toBe('policy');
    expect(cause(true, 5, closed([1, 2, 3, 4, 5]))).toBe('policy');
    // Too few to be a burst, however many were proven.
    expect(cause(true, 0, closed([1, 2]))).toBe('policy');
    expect(cause(true, 0, closed([1, 2, 1_001]))).toBe('policy');
    expect(closeOf({ settings, opened: true, provenBurst: 0 }, closed([1, 2, 1_000, 1_001])).recentSends).toBe(3);
    expect(cause(true, 0, { type: 'SOCKET_CLOSED', code: 1008, reason: '' })).toBe('policy');
    expect(cause(true, 0, { type: 'SOCKET_CLOSED', code: 1006, reason: '', recentSendsMs: [1, 2, 3] } as ReturnType<typeof closed>)).toBe('network');
    expect(cause(false, 0, closed([1, 2, 3]))).toBe('connect_failed');
  });

  it('anything else that ends a connection is a network close, with no error text', () => {
    expect(closeOf({ settings, opened: true, provenBurst: 0 }, { type: 'STOP' })).toEqual({ code: 0, reason: 'STOP', cause: 'network', recentSends: 0, error: null });
  });
});
