import net from 'node:net';
import type { Config, EnvName } from '../config/env.js';
import type { Role } from './args.js';

// The ports the chosen roles will listen on, checked before anything starts: a taken port must
// name the variable that sets it, and fail before a redis-server or a simulator is up (nothing
// to leave behind). Port 0 (any free port) cannot be taken and is not checked.

export interface PlannedPort {
  variable: EnvName;
  host: string;
  port: number;
}

export function plannedPorts(config: Config, roles: readonly Role[], inspect: boolean): PlannedPort[] {
  const out: PlannedPort[] = [];
  if (roles.includes('polygon-ws')) out.push({ variable: 'HTTP_PORT', host: config.HTTP_HOST, port: config.HTTP_PORT });
  if (roles.includes('scanner') && !roles.includes('polygon-ws') && !roles.includes('ws-server')) {
    out.push({ variable: 'SCANNER_HTTP_PORT', host: config.HTTP_HOST, port: config.SCANNER_HTTP_PORT });
  }
  if (roles.includes('ws-server')) out.push({ variable: 'WS_SERVER_PORT', host: config.WS_SERVER_HOST, port: config.WS_SERVER_PORT });
  if (inspect) out.push({ variable: 'INSPECT_PORT', host: '127.0.0.1', port: config.INSPECT_PORT });
  return out.filter((p) => p.port !== 0);
}

export class PortError extends Error {
  constructor(
    readonly variable: EnvName,
    message: string,
  ) {
    super(message);
    this.name = 'PortError';
  }
}

function tryListen(p: PlannedPort): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen({ host: p.host, port: p.port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
}

/** Throws a PortError naming the variable of the first port that cannot be listened on. */
export async function checkPorts(planned: readonly PlannedPort[]): Promise<void> {
  for (const [i, p] of planned.entries()) {
    const twin = planned.slice(0, i).find((q) => q.port === p.port);
    if (twin) {
      throw new PortError(p.variable, `${twin.variable} and ${p.variable} are both ${p.port}: give each its own port`);
    }
    const err = await tryListen(p);
    if (!err) continue;
    const where = `${p.host}:${p.port} (${p.variable})`;
    if (err.code === 'EADDRINUSE') {
      throw new PortError(
        p.variable,
        `port ${where} is already in use: is another livescan running? Stop it, or set ${p.variable} to a free port`,
      );
    }
    if (err.code === 'EACCES') throw new PortError(p.variable, `not allowed to listen on ${where}: pick a port above 1023 in ${p.variable}`);
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
      throw new PortError(p.variable, `cannot listen on ${where}: ${p.host} is not an address of this machine`);
    }
    throw new PortError(p.variable, `cannot listen on ${where}: ${err.code ?? err.message}`);
  }
}
