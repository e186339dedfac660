import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The roles as separate `node dist/main.js --role <role>` children, as production runs them, with
// a supervisor's behaviour (restart a second after an exit nobody asked for, like systemd's
// Restart=always) so that one crash does not end the run, while every such exit is recorded:
// a role that dies by itself under faults is a finding, not noise.

export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export type RoleName = 'scanner' | 'polygon-ws' | 'ws-server';
export const ROLE_NAMES: readonly RoleName[] = ['scanner', 'polygon-ws', 'ws-server'];

/** dist/main.js, or an error that says how to get it. */
export function requireBuiltMain(): string {
  if (!existsSync(MAIN_JS)) {
    throw new Error(`${MAIN_JS} is missing: the chaos suite runs the built program; run \`npm run build\` first (\`npm test\` does it)`);
  }
  return MAIN_JS;
}

export interface UnexpectedExit {
  role: RoleName;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface RoleProcessOptions {
  role: RoleName;
  /** The child's whole environment (nothing is inherited but what is given here). */
  env: Record<string, string>;
  /** stdout and stderr of every incarnation are appended to `<logDir>/<role>.log`. */
  logDir: string;
  /** Wait before a supervised restart after an unexpected exit. Default 1000. */
  restartDelayMs?: number;
}

const live = new Set<ChildProcess>();
// A test worker that dies without its afterAll must not leave the roles running.
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export class RoleProcess {
  readonly role: RoleName;
  readonly logFile: string;
  readonly unexpectedExits: UnexpectedExit[] = [];
  /** Starts so far (first start, kills by the suite, supervised restarts). */
  incarnations = 0;
  /** When the current incarnation was spawned (ms since epoch). */
  startedAt = 0;
  private child: ChildProcess | null = null;
  private readonly expected = new WeakSet<ChildProcess>();
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RoleProcessOptions) {
    this.role = opts.role;
    this.logFile = path.join(opts.logDir, `${opts.role}.log`);
  }

  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  async start(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.stopped = false;
    const fd = openSync(this.logFile, 'a');
    this.incarnations++;
    writeSync(fd, `${JSON.stringify({ chaos: 'spawn', role: this.role, incarnation: this.incarnations, at: new Date().toISOString() })}\n`);
    const child = spawn(process.execPath, [requireBuiltMain(), '--role', this.role], {
      env: this.opts.env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.startedAt = Date.now();
    live.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      if (this.expected.has(child) || this.stopped) return;
      this.unexpectedExits.push({ role: this.role, pid: child.pid, code, signal, at: Date.now() });
      if (this.child === child) {
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.stopped && !this.running) void this.start().catch(() => undefined);
        }, this.opts.restartDelayMs ?? 1000);
      }
    });
  }

  /** Sends `signal` to the current incarnation and waits for it to exit (SIGKILL after `boundMs`). */
  async kill(signal: NodeJS.Signals = 'SIGKILL', boundMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    }
    this.expected.add(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    const force = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.kill(signal);
    try {
      return await exited;
    } finally {
      clearTimeout(force);
    }
  }

  /** SIGKILL, then a new incarnation at once: a crash and a supervisor's restart. */
  async crashAndRestart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  /** Graceful stop (SIGTERM, SIGKILL after `boundMs`); no supervised restart afterwards. */
  async stop(boundMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    return this.kill('SIGTERM', boundMs);
  }

  /** The JSON log lines written so far by every incarnation. */
  logLines(): Record<string, unknown>[] {
    if (!existsSync(this.logFile)) return [];
    const out: Record<string, unknown>[] = [];
    for (const line of readFileSync(this.logFile, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut by SIGKILL mid-write.
      }
    }
    return out;
  }

  /** How many log lines have each of the given events. */
  countEvents(events: readonly string[]): Record<string, number> {
    const counts: Record<string, number> = Object.fromEntries(events.map((e) => [e, 0]));
    for (const l of this.logLines()) {
      const e = l.event;
      if (typeof e === 'string' && e in counts) counts[e] = (counts[e] ?? 0) + 1;
    }
    return counts;
  }
}
