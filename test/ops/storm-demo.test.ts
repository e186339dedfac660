import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/free-port.js';
import { eventually } from '../helpers/wait.js';
import { baseEnv, processesWithMarker, spawnLivescan, stats } from '../helpers/livescan-process.js';

// The README's storm demo, run as written: the first line of the block after the `storm-demo`
// marker is parsed (its variables and its arguments), so the README cannot drift from what works.
// Only the ports are moved off the defaults, so that the test does not fight a livescan running
// on this machine.

const README = new URL('../../README.md', import.meta.url).pathname;

export function stormDemoCommand(readme: string): { env: Record<string, string>; args: string[] } {
  const at = readme.indexOf('<!-- storm-demo');
  if (at < 0) throw new Error('no storm-demo marker in the README');
  const block = /```sh\n([^\n]*)\n/.exec(readme.slice(at));
  if (!block) throw new Error('no sh block after the storm-demo marker');
  const words = (block[1] as string).replace(/\s+#.*$/, '').trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0] as string)) {
    const w = words.shift() as string;
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  if (words[0] !== 'node' || words[1] !== 'dist/main.js') throw new Error(`the demo is not \`node dist/main.js\`: ${block[1]}`);
  return { env, args: words.slice(2) };
}

describe("the README's storm demo", () => {
  it('parses to the seeds\' storm on the built-in simulator', () => {
    const { env, args } = stormDemoCommand(readFileSync(README, 'utf8'));
    expect(env).toEqual({ SIMULATOR_STORM_MS: '20000-30000' });
    expect(args).toEqual([]);
  });

  it('runs offline as written: the storm closes the upstream with 1008 and polygon-ws recovers to full coverage', async () => {
    const { env, args } = stormDemoCommand(readFileSync(README, 'utf8'));
    const [httpPort, wsPort] = [await freePort(), await freePort()];
    const ls = spawnLivescan(args, { ...baseEnv(), ...env, HTTP_PORT: String(httpPort), WS_SERVER_PORT: String(wsPort) });
    try {
      const started = await eventually(() => ls.lines.find((l) => l.event === 'polygon_simulator_started'), 'the simulator', 30_000);
      expect(started.faults).toEqual(['SIMULATOR_STORM_MS']);
      // The simulated market is kept: the scanner ranks it, the SET fills.
      await eventually(async () => ((await stats(httpPort))?.desired as number) > 0, 'a ranked market in the SET', 45_000, 250);
      // The first storm close comes 20-30 s after the connection is live.
      const closed = await eventually(
        async () => {
          const s = await stats(httpPort);
          return s && (s.close_1008_count as number) >= 1 ? s : null;
        },
        'a 1008 close from the storm',
        60_000,
        250,
      );
      expect((closed.reconnections_by_code as Record<string, number>)['1008']).toBeGreaterThanOrEqual(1);
      expect(ls.lines.some((l) => l.event === 'policy_violation_detected' && l.close_code === 1008)).toBe(true);
      await eventually(
        async () => {
          const s = await stats(httpPort);
          return s?.state === 'live' && s.coverage === 1 && s.gap === 0;
        },
        'coverage back to 1 after the storm close',
        30_000,
        100,
      );
      expect(await ls.stop(), ls.output().slice(-4000)).toBe(0);
      expect(processesWithMarker(ls.marker)).toEqual([]);
    } finally {
      await ls.stop(2_000);
    }
  }, 150_000);
});
