import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';

// `node dist/main.js` as a child, its JSON log lines collected, and a way to prove that nothing it
// started outlived it: every child inherits a marker in its environment, and /proc is searched
// for it.

export const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

export interface LivescanChild {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Parsed JSON lines of stdout, in order. */
  lines: Record<string, unknown>[];
  /** Every byte of stdout and stderr, as text. */
  output(): string;
  exited: Promise<number | null>;
  marker: string;
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

export function baseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info' };
}

export function spawnLivescan(args: readonly string[], env: NodeJS.ProcessEnv): LivescanChild {
  const marker = `LIVESCAN_TEST_${process.pid}_${Date.now()}_${Math.random().toString(36).slice(2)}`;
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...env, LIVESCAN_TEST_MARKER: marker },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let text = '';
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    lines,
    output: () => text,
    exited,
    marker,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** PIDs of live processes whose environment carries `marker` (Linux /proc). */
export function processesWithMarker(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (env.includes(`LIVESCAN_TEST_MARKER=${marker}`)) out.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

export async function stats(httpPort: number): Promise<Record<string, unknown> | null> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/stats`).catch(() => null);
  return res?.ok ? ((await res.json()) as Record<string, unknown>) : null;
}
