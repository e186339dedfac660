import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV, loadConfig, SECRET_VARS, type EnvName } from '../../src/config/env.js';
import { nastyString } from './arbitraries.js';

// The environment is the operator's, typos and pasted secrets included: loadConfig answers with
// a Config or a ConfigError, nothing else, and the error never repeats a secret's value.

const names = Object.keys(ENV) as EnvName[];
const secretNames = new Set<EnvName>(SECRET_VARS);

/** Markers no error text can contain by chance: a secret is recognised by its marker. */
const marker = fc.integer({ min: 1_000, max: 99_999 }).map((n) => `Qz${n}Wv`);

const plausible: Partial<Record<EnvName, fc.Arbitrary<string>>> = {
  HTTP_PORT: fc.oneof(fc.integer({ min: -10, max: 70_000 }).map(String), fc.constantFrom('80.5', '0x10', ' 8080 ', '')),
  HTTP_HOST: fc.constantFrom('127.0.0.1', '0.0.0.0', '::1', 'localhost', '192.168.1.2', '', '::', ' 127.0.0.1 '),
  LOG_LEVEL: fc.constantFrom('info', 'debug', 'verbose', ' warn ', 'INFO'),
  INSPECT: fc.constantFrom('1', '0', 'true', 'maybe', 'YES'),
  POLYGON_WS_URL: fc.constantFrom('wss://socket.massive.com/stocks', 'ws://127.0.0.1:1', 'https://x', 'not a url', 'ws://[::1'),
  POLYGON_REST_URL: fc.constantFrom('https://api.massive.com', 'ftp://x', 'http://127.0.0.1:9'),
};

/** A secret's value: the marker alone, or wrapped in what gets pasted by mistake. */
function secretValue(name: EnvName): fc.Arbitrary<{ raw: string; secret: string }> {
  const wrap = fc.tuple(marker, fc.constantFrom('', ' ', '\t', '"', "'", 'x y ', '\n'), fc.constantFrom('', ' ', '\n', ' tail', '"', '%'));
  if (name !== 'REDIS_URL') return wrap.map(([m, pre, post]) => ({ raw: `${pre}${m}${post}`, secret: m }));
  const shapes = [
    (pw: string) => `redis://:${pw}@127.0.0.1:6379/0`,
    (pw: string) => `rediss://default:${pw}@redis.example.com:6380`,
    (pw: string) => `redis://:${pw}@host with space:6379`,
    (pw: string) => `redis://:${pw}@host:99999`,
    (pw: string) => `http://:${pw}@host:6379`,
    (pw: string) => `redis//:${pw}@host`,
    (pw: string) => `${pw}`,
    (pw: string) => `${pw}:6379`,
    (pw: string) => `${pw}@host:6379`,
    (pw: string) => `user:${pw}@host:6379`,
    (pw: string) => `redis://:${pw}@[::1:6379`,
    (pw: string) => `redis://:${encodeURIComponent(`${pw}/?#@:`)}@host:6379`,
    (pw: string) => `tcp://${pw}@localhost`,
  ];
  return fc.tuple(marker, fc.nat(shapes.length - 1), fc.constantFrom('', ' ', '\n')).map(([m, i, pad]) => ({
    raw: `${pad}${(shapes[i] as (pw: string) => string)(m)}${pad}`,
    secret: m,
  }));
}

const anyValue = fc.oneof({ weight: 3, arbitrary: nastyString }, { weight: 1, arbitrary: fc.string({ maxLength: 300 }) });

/** An environment: each known variable absent, plausible, random, or (for secrets) a marked secret. */
const environment = fc
  .tuple(
    ...names.map((n) =>
      fc.option(
        secretNames.has(n)
          ? fc.oneof({ weight: 4, arbitrary: secretValue(n) }, { weight: 1, arbitrary: anyValue.map((raw) => ({ raw, secret: null })) })
          : fc
              .oneof(
                // Mostly good values, so that later variables (the secrets among them) get checked too.
                { weight: 8, arbitrary: fc.constant(String(ENV[n].default)) },
                { weight: 2, arbitrary: plausible[n] ?? anyValue },
                { weight: 1, arbitrary: anyValue },
              )
              .map((raw) => ({ raw, secret: null })),
        { nil: undefined, freq: 2 },
      ),
    ),
  )
  .map((values) => {
    const env: Record<string, string> = {};
    const secrets: string[] = [];
    values.forEach((v, i) => {
      if (!v) return;
      env[names[i] as string] = v.raw;
      if (v.secret) secrets.push(v.secret);
    });
    return { env, secrets };
  });

describe('loadConfig under arbitrary environments', () => {
  it('property: a Config or a ConfigError naming a known variable; the error never holds a secret', () => {
    fc.assert(
      fc.property(environment, ({ env, secrets }) => {
        let config;
        try {
          config = loadConfig(env);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const e = err as ConfigError;
          expect(names).toContain(e.variable);
          expect(e.message).toContain(e.variable);
          const shown = `${e.message}\n${String(e.stack)}`.toLowerCase();
          for (const s of secrets) expect(shown, `error for ${e.variable}: ${e.message}`).not.toContain(s.toLowerCase());
          // A secret that failed validation is not repeated even in part: nothing of it but the variable name.
          if (secretNames.has(e.variable as EnvName)) {
            const raw = env[e.variable]?.trim() ?? '';
            if (raw.length >= 4) expect(e.message).not.toContain(raw);
          }
          return;
        }
        for (const n of names) {
          expect(typeof config[n]).toBe(typeof ENV[n].default);
          if (typeof config[n] === 'number') expect(Number.isInteger(config[n])).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('property: values of any length and content for unknown names change nothing', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 20 }).filter((k) => !(names as string[]).includes(k)), fc.string({ maxLength: 50 }), { maxKeys: 10 }), (extra) => {
        expect(loadConfig(extra)).toEqual(loadConfig({}));
      }),
      { numRuns: 200 },
    );
  });
});
