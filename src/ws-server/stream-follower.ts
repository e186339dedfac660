import { backoffCeiling } from '../machines/backoff.js';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { wsMetrics } from './ws-metrics.js';

// Follows Redis streams with blocking XREAD on a dedicated connection, keeping the last id of
// each stream in memory. After any failure it waits for Redis, then checks that its position
// still exists before reading on: if the stream was emptied (a restart without persistence),
// replaced by an older history, or trimmed past the position, the stream's handler decides
// where to resume (and the ranking handler re-bootstraps its lists). Entries are handed over in
// order, each at most once; an entry whose handler fails on Redis is retried, not skipped.

export interface PositionLoss {
  lastId: string;
  /** stream_empty: gone or empty; stream_reset: its newest entry is older than ours; trimmed: ours was cut off. */
  kind: 'stream_empty' | 'stream_reset' | 'trimmed';
  newestId: string | null;
}

export interface StreamHandler {
  readonly stream: string;
  /** The id to read after, at start-up. */
  start(): Promise<string>;
  /** One entry; may throw when Redis fails, and the entry is then handed over again later. */
  handle(id: string, fields: string[]): void | Promise<void>;
  /** The entries of one read have all been handed over (called at once, no timer): a tick's end. */
  endOfRead?(): void;
  /** Our position no longer exists: the id to read after from now on. */
  positionLost(loss: PositionLoss): Promise<string>;
}

export type FollowerState = 'starting' | 'live' | 'recovering' | 'stopped';

export interface StreamPosition {
  /** Now minus the time in the id of the newest entry, when it was read. */
  lag_ms: number | null;
  entries: number;
  last_id: string;
  last_entry_at: string | null;
}

export interface StreamFollowerOptions {
  /** Dedicated to XREAD BLOCK: maxRetriesPerRequest 0, autoResendUnfulfilledCommands false. */
  blocking: Redis;
  /** For position checks; may be shared. */
  command: Redis;
  handlers: readonly StreamHandler[];
  log: Logger;
  blockMs?: number;
  count?: number;
}

/** Stream ids `ms-seq` compared numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function idTime(id: string): number {
  return Number(id.split('-')[0]);
}

/** Attempts at one entry before it is skipped as poison (logged). */
const MAX_ENTRY_ATTEMPTS = 5;

export class StreamFollower {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly pos = new Map<string, StreamPosition>();
  private stopSignal!: Promise<void>;
  private signalStop!: () => void;
  private markReady!: () => void;
  private failures = new Map<string, number>();
  private backoffMs = 0;
  private readFailures = 0;
  private _state: FollowerState = 'starting';
  /** Resolves once every handler has started (the first bootstrap is done). */
  readonly ready: Promise<void>;

  constructor(private readonly opts: StreamFollowerOptions) {
    this.ready = new Promise((r) => (this.markReady = r));
    this.stopSignal = new Promise((r) => (this.signalStop = r));
  }

  get state(): FollowerState {
    return this._state;
  }

  positions(): Record<string, StreamPosition> {
    return Object.fromEntries([...this.pos].map(([k, v]) => [k, { ...v }]));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run().catch((err: unknown) => {
      this.opts.log.fatal({ event: 'stream_follower_crashed', err });
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.signalStop();
    this._state = 'stopped';
    // Disconnecting rejects the XREAD in flight, which ends the loop.
    this.opts.blocking.disconnect();
    await this.loop;
  }

  private setPosition(stream: string, id: string): void {
    const p = this.pos.get(stream);
    if (p) p.last_id = id;
    else this.pos.set(stream, { lag_ms: null, entries: 0, last_id: id, last_entry_at: null });
  }

  private async pause(): Promise<void> {
    this.readFailures++;
    this.backoffMs = backoffCeiling(this.readFailures, { baseMs: 100, maxMs: 2_000 });
    await Promise.race([new Promise((r) => setTimeout(r, this.backoffMs).unref()), this.stopSignal]);
  }

  private async waitReady(redis: Redis): Promise<void> {
    if (redis.status === 'ready') return;
    await Promise.race([
      new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (redis.status === 'ready' || !this.running) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
        redis.once('ready', () => {
          clearInterval(poll);
          resolve();
        });
      }),
      this.stopSignal,
    ]);
  }

  private async run(): Promise<void> {
    const { log, handlers } = this.opts;
    for (const h of handlers) {
      while (this.running && !this.pos.has(h.stream)) {
        try {
          await this.waitReady(this.opts.command);
          this.setPosition(h.stream, await h.start());
        } catch (err) {
          wsMetrics.redisErrors.inc({ operation: 'bootstrap' });
          log.warn({ event: 'stream_start_failed', stream: h.stream, error: (err as Error).message });
          await this.pause();
        }
      }
    }
    if (this.running) this._state = 'live';
    this.markReady();
    let check = false;
    while (this.running) {
      if (check) {
        try {
          await this.waitReady(this.opts.command);
          if (!this.running) break;
          await this.checkPositions();
          check = false;
          if (this._state === 'recovering') {
            this._state = 'live';
            log.info({ event: 'stream_read_resumed', positions: this.positions() });
          }
        } catch (err) {
          wsMetrics.redisErrors.inc({ operation: 'position_check' });
          log.warn({ event: 'stream_position_check_failed', error: (err as Error).message });
          await this.pause();
          continue;
        }
      }
      let reply: [string, [string, string[]][]][] | null;
      try {
        await this.waitReady(this.opts.blocking);
        if (!this.running) break;
        const keys = handlers.map((h) => h.stream);
        const ids = keys.map((k) => this.pos.get(k)?.last_id ?? '0-0');
        reply = (await this.opts.blocking.xread(
          'COUNT',
          this.opts.count ?? 500,
          'BLOCK',
          this.opts.blockMs ?? 5_000,
          'STREAMS',
          ...keys,
          ...ids,
        )) as [string, [string, string[]][]][] | null;
      } catch (err) {
        if (!this.running) break;
        if (this._state !== 'recovering') {
          log.warn({ event: 'stream_read_failed', error: (err as Error).message });
        }
        wsMetrics.redisErrors.inc({ operation: 'xread' });
        this._state = 'recovering';
        check = true;
        await this.pause();
        continue;
      }
      this.backoffMs = 0;
      this.readFailures = 0;
      if (!reply) continue;
      for (const [stream, entries] of reply) {
        if (!(await this.deliver(stream, entries))) check = true;
      }
    }
  }

  /** Hand entries over in order; false when one failed (to be retried after a check). */
  private async deliver(stream: string, entries: [string, string[]][]): Promise<boolean> {
    const h = this.opts.handlers.find((x) => x.stream === stream);
    const p = this.pos.get(stream);
    if (!h || !p) return true;
    let ok = true;
    let handled: string | null = null;
    let n = 0;
    // The read's lag, before any handling: what handling takes is the tick metric's.
    const newest = entries[entries.length - 1]?.[0];
    if (newest !== undefined) {
      const lag = Math.max(0, Date.now() - idTime(newest));
      p.lag_ms = lag;
      wsMetrics.streamLag.set({ stream }, lag / 1000);
    }
    for (const [id, fields] of entries) {
      try {
        const r = h.handle(id, fields);
        if (r) await r;
      } catch (err) {
        const attempts = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, attempts);
        wsMetrics.redisErrors.inc({ operation: 'handle_entry' });
        if (attempts < MAX_ENTRY_ATTEMPTS) {
          this.opts.log.warn({ event: 'stream_entry_retry', stream, id, attempts, error: (err as Error).message });
          ok = false;
          break;
        }
        this.opts.log.error({ event: 'stream_entry_skipped', stream, id, attempts, error: (err as Error).message });
      }
      this.failures.delete(id);
      p.last_id = id;
      handled = id;
      n++;
    }
    // What was handled goes out now, even when a later entry failed and will be handed over again.
    h.endOfRead?.();
    if (handled !== null) {
      p.entries += n;
      p.last_entry_at = new Date().toISOString();
      wsMetrics.streamEntries.inc({ stream }, n);
    }
    if (!ok) await this.pause();
    return ok;
  }

  private async checkPositions(): Promise<void> {
    const { command, handlers, log } = this.opts;
    for (const h of handlers) {
      const last = this.pos.get(h.stream)?.last_id ?? '0-0';
      if (last === '0-0') continue;
      const here = await command.xrange(h.stream, last, last);
      if (here.length > 0) continue;
      const newestId = (await command.xrevrange(h.stream, '+', '-', 'COUNT', 1))[0]?.[0] ?? null;
      const kind: PositionLoss['kind'] =
        newestId === null ? 'stream_empty' : compareStreamIds(newestId, last) < 0 ? 'stream_reset' : 'trimmed';
      log.warn({ event: 'stream_position_lost', stream: h.stream, last_id: last, kind, newest_id: newestId });
      this.setPosition(h.stream, await h.positionLost({ lastId: last, kind, newestId }));
    }
  }
}
