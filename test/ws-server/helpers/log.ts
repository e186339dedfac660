import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/shared/logger.js';

/** A real pino logger whose lines are kept, parsed, for assertions. */
export function captureLog(level = 'debug'): { log: Logger; lines: Record<string, unknown>[]; events: () => string[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level, destination });
  return { log, lines, events: () => lines.map((l) => String(l.event)) };
}
