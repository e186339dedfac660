import { describeEnv } from '../config/env.js';

// Command-line arguments of `node dist/main.js`. Roles can be combined: `--role scanner,ws-server`.

export const ROLES = ['scanner', 'polygon-ws', 'ws-server'] as const;
export type Role = (typeof ROLES)[number];

export interface CliArgs {
  roles: Role[];
  inspect: boolean;
  help: boolean;
  /** Validate the configuration and check the ports are free, then exit (what `npm start` does before building). */
  check: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { roles: [...ROLES], inspect: false, help: false, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--inspect') out.inspect = true;
    else if (a === '--check') out.check = true;
    else if (a === '--role' || a.startsWith('--role=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new UsageError('--role needs a value: all, scanner, polygon-ws, ws-server, or a comma list');
      out.roles = parseRoles(value);
    } else throw new UsageError(`unknown argument "${a}" (try --help)`);
  }
  return out;
}

function parseRoles(value: string): Role[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.includes('all')) return [...ROLES];
  const roles: Role[] = [];
  for (const n of names) {
    if (!(ROLES as readonly string[]).includes(n)) throw new UsageError(`unknown role "${n}": use all, ${ROLES.join(', ')}`);
    if (!roles.includes(n as Role)) roles.push(n as Role);
  }
  if (roles.length === 0) throw new UsageError('--role needs at least one role');
  return roles;
}

export function helpText(): string {
  return `livescan: real-time market scanner backbone

Usage: node dist/main.js [--role ROLES] [--inspect] [--check] [--help]

  --role ROLES   all (default), or a comma list of: ${ROLES.join(', ')}
                 scanner     ranks the market every SCAN_INTERVAL_MS into 11 lists and writes the SET
                 polygon-ws  keeps the upstream subscription equal to the SET; HTTP API on HTTP_PORT
                 ws-server   serves lists and live prices to browsers on WS_SERVER_PORT (dashboard at /)
  --inspect      expose the actor system to the Stately inspector (also INSPECT=1)
  --check        validate the configuration and check that the ports are free, then exit
                 (0: fine; 2: bad configuration; 3: a port is taken)
  --help         this text

With no REDIS_URL a private redis-server is started on a free port; with no POLYGON_API_KEY the
built-in Polygon simulator and simulated market are used. The simulator's faults (SIMULATOR_*
below) replay the upstream's misbehaviour with the simulated market kept, e.g. the seeds' storm:
  SIMULATOR_STORM_MS=20000-30000 node dist/main.js

Environment:
${describeEnv()}
`;
}
