import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeEnv, ENV, loadConfig, SECRET_VARS, simulatorFaultsOn, type EnvName } from '../../src/config/env.js';

// Every variable's parser, default and help line; the promise that a secret never reaches an
// error message or the help text.

function errorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`expected a ConfigError, got ${String(err)}`);
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const names = Object.keys(ENV) as EnvName[];
const intVars = names.filter((n) => typeof ENV[n].default === 'number');

/** Bounds of an integer variable, read off its parser (the spec keeps them private). */
function boundsOf(name: EnvName): { min: number; max: number } {
  const msg = errorOf({ [name]: '-99999999999999999999' }).message;
  const m = /between (-?\d+) and (-?\d+)/.exec(msg);
  if (!m) throw new Error(`no bounds in ${msg}`);
  return { min: Number(m[1]), max: Number(m[2]) };
}

describe('loadConfig defaults', () => {
  it('an empty environment gives every default', () => {
    const config = loadConfig({});
    for (const n of names) expect(config[n]).toBe(ENV[n].default);
    expect(config).toMatchObject({
      REDIS_URL: '',
      POLYGON_API_KEY: '',
      POLYGON_WS_URL: 'wss://socket.massive.com/stocks',
      HTTP_PORT: 8006,
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SUBSCRIBE_BATCH_SIZE: 1000,
      SUBSCRIBE_BURST: 50,
      SUBSCRIBE_RATE: 20,
      RECONNECT_PROMPT_MS: 500,
      INSPECT: false,
    });
    expect(Object.keys(config).sort()).toEqual([...names].sort());
  });

  it('an empty or blank value means the default, for every variable', () => {
    for (const n of names) {
      expect(loadConfig({ [n]: '' })[n]).toBe(ENV[n].default);
      expect(loadConfig({ [n]: '  \t ' })[n]).toBe(ENV[n].default);
    }
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ SOMETHING_ELSE: 'x', PATH: '/bin' })).toEqual(loadConfig({}));
  });

  it('reads process.env when given nothing', () => {
    expect(() => loadConfig()).not.toThrow();
  });
});

describe('parsers', () => {
  it('integers: trimmed, signed, within bounds', () => {
    expect(loadConfig({ HTTP_PORT: ' 8080 ' }).HTTP_PORT).toBe(8080);
    expect(loadConfig({ HTTP_PORT: '0' }).HTTP_PORT).toBe(0);
    expect(loadConfig({ HTTP_PORT: '65535' }).HTTP_PORT).toBe(65535);
    expect(loadConfig({ SUBSCRIBE_BATCH_SIZE: '1' }).SUBSCRIBE_BATCH_SIZE).toBe(1);
  });

  it.each([
    ['HTTP_PORT', '80.5', /must be an integer, got "80\.5"/],
    ['HTTP_PORT', '1e3', /must be an integer/],
    ['HTTP_PORT', '0x10', /must be an integer/],
    ['HTTP_PORT', 'eighty', /must be an integer/],
    ['HTTP_PORT', '65536', /must be between 0 and 65535, got 65536/],
    ['HTTP_PORT', '-1', /must be between 0 and 65535, got -1/],
    ['SUBSCRIBE_BATCH_SIZE', '0', /must be between 1 and 10000/],
    ['SUBSCRIBE_BATCH_SIZE', '10001', /must be between 1 and 10000/],
    ['RECONCILE_INTERVAL_MS', '999', /must be between 1000 and 3600000/],
    ['MARKET_SYMBOLS', '49', /must be between 50 and 100000/],
    ['LOG_LEVEL', 'verbose', /must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"/],
    ['INSPECT', 'maybe', /must be a boolean/],
    ['POLYGON_WS_URL', 'not a url', /is not a valid URL/],
    ['POLYGON_WS_URL', 'https://socket.massive.com/stocks', /must use wss: or ws: \(got https:\)/],
    ['POLYGON_REST_URL', 'ftp://api.massive.com', /must use https: or http: \(got ftp:\)/],
    ['REDIS_URL', 'http://localhost:6379', /must use redis: or rediss: \(got http:\)/],
    ['REDIS_URL', 'localhost', /is not a valid URL/],
    ['POLYGON_API_KEY', 'two words', /must not contain white space/],
    ['ADMIN_TOKEN', 'a\tb', /must not contain white space/],
  ])('%s=%j is refused, and the error names the variable', (name, value, detail) => {
    const err = errorOf({ [name]: value });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.variable).toBe(name);
    expect(err.message).toContain(`invalid configuration: ${name} `);
    expect(err.message).toMatch(detail);
  });

  it('log levels and booleans are trimmed; booleans accept the usual spellings in any case', () => {
    expect(loadConfig({ LOG_LEVEL: ' debug ' }).LOG_LEVEL).toBe('debug');
    for (const v of ['1', 'true', 'YES', 'On', ' true ']) expect(loadConfig({ INSPECT: v }).INSPECT).toBe(true);
    for (const v of ['0', 'false', 'No', 'OFF']) expect(loadConfig({ INSPECT: v }).INSPECT).toBe(false);
  });

  it('URLs of the right scheme are kept as given (trimmed), text is trimmed', () => {
    expect(loadConfig({ REDIS_URL: ' redis://:pw@127.0.0.1:6379/2 ' }).REDIS_URL).toBe('redis://:pw@127.0.0.1:6379/2');
    expect(loadConfig({ REDIS_URL: 'rediss://h:6380' }).REDIS_URL).toBe('rediss://h:6380');
    expect(loadConfig({ POLYGON_WS_URL: 'ws://127.0.0.1:1234/stocks' }).POLYGON_WS_URL).toBe('ws://127.0.0.1:1234/stocks');
    expect(loadConfig({ HTTP_HOST: ' 0.0.0.0 ', ADMIN_TOKEN: 'tok-123456' }).HTTP_HOST).toBe('0.0.0.0');
    expect(loadConfig({ POLYGON_API_KEY: ' abc ' }).POLYGON_API_KEY).toBe('abc');
  });

  it('the first bad variable is the one named', () => {
    const err = errorOf({ HTTP_PORT: 'x', LOG_LEVEL: 'loud' });
    expect(names.indexOf('HTTP_PORT')).toBeLessThan(names.indexOf('LOG_LEVEL'));
    expect(err.variable).toBe('HTTP_PORT');
  });
});

describe('secrets', () => {
  it('the secret variables are REDIS_URL, POLYGON_API_KEY and ADMIN_TOKEN', () => {
    expect([...SECRET_VARS].sort()).toEqual(['ADMIN_TOKEN', 'POLYGON_API_KEY', 'REDIS_URL']);
  });

  it('a bad secret is never repeated in the error', () => {
    const cases: [EnvName, string, string][] = [
      ['POLYGON_API_KEY', 'Zq9 Xw7Lm', 'Zq9'],
      ['ADMIN_TOKEN', 'tok3n-Secret value', 'tok3n-Secret'],
      ['REDIS_URL', 'redis://:hunter2pw@ho st:6379', 'hunter2pw'],
      ['REDIS_URL', 'http://:hunter2pw@host:6379', 'hunter2pw'],
      ['REDIS_URL', 'redis://:hunter2pw@host:99999', 'hunter2pw'],
      ['REDIS_URL', 'hunter2pw', 'hunter2pw'],
      // Found by these tests: a value starting `password:` parsed as a URL whose scheme was the
      // password, and the error quoted that scheme.
      ['REDIS_URL', 'hunter2pw:6379', 'hunter2pw'],
      ['REDIS_URL', 'default:hunter2pw@host:6379', 'hunter2pw'],
    ];
    for (const [name, value, secret] of cases) {
      const err = errorOf({ [name]: value });
      expect(err.variable).toBe(name);
      expect(err.message.toLowerCase()).not.toContain(secret.toLowerCase());
      expect(String(err.stack).toLowerCase()).not.toContain(secret.toLowerCase());
    }
  });

  it('property: a bad REDIS_URL never shows the password it carries', () => {
    // A digit inside: the messages have none, so a password cannot match their own words.
    const password = fc
      .tuple(fc.stringMatching(/^[A-Za-z0-9_~!$&'()*+;=%-]{3,12}$/), fc.nat(9), fc.stringMatching(/^[A-Za-z0-9_~!$&'()*+;=%-]{2,12}$/))
      .map(([a, d, b]) => `${a}${d}${b}`);
    const shape = fc.constantFrom(
      (pw: string) => `http://:${pw}@localhost:6379`,
      (pw: string) => `https://user:${pw}@localhost`,
      (pw: string) => `redis://:${pw}@local host:6379`,
      (pw: string) => `redis://:${pw}@localhost:70000`,
      (pw: string) => `redis//:${pw}@localhost`,
      (pw: string) => `://:${pw}@localhost`,
      (pw: string) => `${pw}`,
      (pw: string) => `${pw}:6379`,
      (pw: string) => `${pw}:@localhost`,
      (pw: string) => `user:${pw}@localhost:6379`,
      (pw: string) => ` redis://:${pw}@[::1:6379 `,
      (pw: string) => `tcp://${pw}@localhost`,
    );
    fc.assert(
      fc.property(password, shape, (pw, make) => {
        let err: unknown;
        let parsed: string | undefined;
        try {
          parsed = loadConfig({ REDIS_URL: make(pw) }).REDIS_URL;
        } catch (e) {
          err = e;
        }
        if (err === undefined) {
          // Some shapes are valid URLs for some passwords; then nothing is shown at all.
          expect(parsed).toMatch(/^rediss?:/);
          return;
        }
        expect(err).toBeInstanceOf(ConfigError);
        const e = err as ConfigError;
        expect(e.variable).toBe('REDIS_URL');
        expect(e.message.toLowerCase()).not.toContain(pw.toLowerCase());
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a bad API key or admin token never shows in the error', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<EnvName>('POLYGON_API_KEY', 'ADMIN_TOKEN'),
        fc.stringMatching(/^[A-Za-z0-9]{3,10}[0-9][A-Za-z0-9]{2,10}$/),
        fc.stringMatching(/^[A-Za-z0-9]{1,20}$/),
        (name, a, b) => {
          const err = errorOf({ [name]: `${a} ${b}` });
          expect(err.variable).toBe(name);
          expect(err.message).not.toContain(a);
        },
      ),
    );
  });
});

describe('describeEnv', () => {
  const text = describeEnv();

  it('lists every variable with its help', () => {
    for (const n of names) {
      expect(text).toMatch(new RegExp(`^  ${n} +default `, 'm'));
      expect(text).toContain(ENV[n].help);
    }
    expect(text.split('\n')).toHaveLength(names.length * 2);
  });

  it('shows non-secret defaults and hides secret ones', () => {
    expect(text).toMatch(/^ {2}HTTP_PORT +default 8006$/m);
    expect(text).toMatch(/^ {2}POLYGON_WS_URL +default wss:\/\/socket\.massive\.com\/stocks$/m);
    expect(text).toMatch(/^ {2}INSPECT +default false$/m);
    for (const n of SECRET_VARS) expect(text).toMatch(new RegExp(`^  ${n} +default \\(empty\\)$`, 'm'));
  });

  it('never prints a secret default, even if one were set', () => {
    const specs = SECRET_VARS.map((n) => ENV[n] as { default: unknown });
    const saved = specs.map((s) => s.default);
    try {
      specs.forEach((s, i) => (s.default = `Secr3tDefault${i}`));
      const withDefaults = describeEnv();
      for (const n of SECRET_VARS) expect(withDefaults).toContain(`  ${n.padEnd(24)} default (empty)`);
      expect(withDefaults).not.toMatch(/Secr3tDefault/);
    } finally {
      specs.forEach((s, i) => (s.default = saved[i]));
    }
    expect(describeEnv()).toBe(text);
  });
});

describe('integer variables, property', () => {
  it('every integer variable has bounds, and its default lies within them', () => {
    expect(intVars).toEqual(expect.arrayContaining(['HTTP_PORT', 'SUBSCRIBE_BATCH_SIZE', 'MARKET_SEED', 'INSPECT_PORT']));
    for (const n of intVars) {
      const { min, max } = boundsOf(n);
      expect(min).toBeLessThanOrEqual(ENV[n].default as number);
      expect(max).toBeGreaterThanOrEqual(ENV[n].default as number);
    }
  });

  it('any text either parses to an integer within bounds or throws a ConfigError naming the variable', () => {
    const bounds = new Map(intVars.map((n) => [n, boundsOf(n)]));
    const raw = fc.oneof(
      fc.string(),
      fc.integer({ min: -1_000_000, max: 200_000_000 }).map(String),
      fc.bigInt().map(String),
      fc.double().map(String),
      fc.tuple(fc.constantFrom(' ', '\t', '\n', ''), fc.integer(), fc.constantFrom(' ', '\n', '')).map(([a, n, b]) => `${a}${n}${b}`),
    );
    fc.assert(
      fc.property(fc.constantFrom(...intVars), raw, (name, value) => {
        const b = bounds.get(name);
        if (!b) throw new Error(`no bounds for ${name}`);
        let result: unknown;
        try {
          result = loadConfig({ [name]: value })[name];
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).variable).toBe(name);
          expect((err as ConfigError).message).toContain(name);
          return;
        }
        expect(typeof result).toBe('number');
        const n = result as number;
        expect(Number.isInteger(n)).toBe(true);
        expect(n).toBeGreaterThanOrEqual(b.min);
        expect(n).toBeLessThanOrEqual(b.max);
        if (value.trim() === '') expect(n).toBe(ENV[name].default);
        else expect(n).toBe(Number(value.trim()));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('cross-variable rules', () => {
  it('an HTTP API bound off loopback needs ADMIN_TOKEN', () => {
    expect(() => loadConfig({ HTTP_HOST: '0.0.0.0' })).toThrow(/ADMIN_TOKEN must be set when HTTP_HOST \(0\.0\.0\.0\) is not loopback/);
    expect(loadConfig({ HTTP_HOST: '0.0.0.0', ADMIN_TOKEN: 'tok-123456' }).HTTP_HOST).toBe('0.0.0.0');
    expect(loadConfig({ HTTP_HOST: 'localhost' }).ADMIN_TOKEN).toBe('');
  });
});

describe('SCANNER_RULES', () => {
  it('is parsed at start, and a bad one names the variable', () => {
    expect(loadConfig({ SCANNER_RULES: '{"limit": 5}' }).SCANNER_RULES.limits.winners).toBe(5);
    expect(() => loadConfig({ SCANNER_RULES: '{limit' })).toThrow(/SCANNER_RULES must be JSON/);
    expect(() => loadConfig({ SCANNER_RULES: '{"speed": 1}' })).toThrow(/SCANNER_RULES "speed" is not a rule/);
  });
});

describe('the built-in simulator\'s faults', () => {
  it('SIMULATOR_STORM_MS takes one gap or a MIN-MAX range; 0 is off', () => {
    expect(loadConfig({ SIMULATOR_STORM_MS: '20000-30000' }).SIMULATOR_STORM_MS).toEqual({ minMs: 20_000, maxMs: 30_000 });
    expect(loadConfig({ SIMULATOR_STORM_MS: ' 5000 ' }).SIMULATOR_STORM_MS).toEqual({ minMs: 5_000, maxMs: 5_000 });
    expect(loadConfig({ SIMULATOR_STORM_MS: '0' }).SIMULATOR_STORM_MS).toBeNull();
    expect(loadConfig({}).SIMULATOR_STORM_MS).toBeNull();
    expect(errorOf({ SIMULATOR_STORM_MS: '30000-20000' }).message).toMatch(/SIMULATOR_STORM_MS range must be MIN-MAX/);
    expect(errorOf({ SIMULATOR_STORM_MS: 'often' }).message).toMatch(/SIMULATOR_STORM_MS must be milliseconds/);
    expect(errorOf({ SIMULATOR_STORM_MS: '10' }).variable).toBe('SIMULATOR_STORM_MS');
  });

  it('lists the faults on, and refuses them with a real API key (they would do nothing)', () => {
    expect(simulatorFaultsOn(loadConfig({}))).toEqual([]);
    expect(simulatorFaultsOn(loadConfig({ SIMULATOR_STORM_MS: '20000-30000', SIMULATOR_KICK_EVERY_MS: '0', SIMULATOR_DIE_YOUNG_MS: '500' }))).toEqual([
      'SIMULATOR_STORM_MS',
      'SIMULATOR_DIE_YOUNG_MS',
    ]);
    const err = errorOf({ POLYGON_API_KEY: 'a-real-key', SIMULATOR_DIE_YOUNG_MS: '500' });
    expect(err.variable).toBe('SIMULATOR_DIE_YOUNG_MS');
    expect(err.message).toMatch(/unset POLYGON_API_KEY/);
    expect(err.message).not.toContain('a-real-key');
    expect(loadConfig({ POLYGON_API_KEY: 'a-real-key', SIMULATOR_DIE_YOUNG_MS: '0' }).SIMULATOR_DIE_YOUNG_MS).toBe(0);
  });

  it('--help shows the storm off by default', () => {
    expect(describeEnv()).toMatch(/SIMULATOR_STORM_MS\s+default \(off\)/);
  });
});
