import type { ChainableCommander, Redis } from 'ioredis';
import type { PersistedScannerState } from '../../scanner/cycle-plan.js';
import {
  ACTIVE_TICKERS_KEY,
  CATEGORIES,
  RANKING_DELTAS_STREAM,
  STREAM_DATA_FIELD,
  isCategory,
  type Category,
} from '../../shared/redis-keys.js';

// What the scanner must remember across a restart, kept in Redis beside what it publishes:
// - the last sequence of every list, in a hash written in the same transaction as the messages,
//   so a restarted scanner continues at n+1 and never repeats a number;
// - the SET as last published, which is what subscribe/unsubscribe events are diffed against,
//   so a restart emits events only for real changes.
// The lists themselves are not reloaded: a restarted scanner starts every list with a snapshot.

/** Not in the seeds: livescan's own bookkeeping key. */
export const SEQUENCES_KEY = 'scanner:sequences';

/** How far back the ranking stream is read when the hash is missing (11 entries per scan). */
const STREAM_TAIL = 1_000;

function sequenceOf(raw: unknown): number | null {
  const n = typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Highest sequence per list among the newest ranking messages: the fallback when the hash is gone. */
async function sequencesFromStream(redis: Redis): Promise<Partial<Record<Category, number>>> {
  const entries = await redis.xrevrange(RANKING_DELTAS_STREAM, '+', '-', 'COUNT', STREAM_TAIL);
  const out: Partial<Record<Category, number>> = {};
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] !== STREAM_DATA_FIELD) continue;
      try {
        const msg: unknown = JSON.parse(fields[i + 1] ?? '');
        if (typeof msg !== 'object' || msg === null) continue;
        const { list, sequence } = msg as { list?: unknown; sequence?: unknown };
        if (isCategory(list) && typeof sequence === 'number' && Number.isSafeInteger(sequence)) {
          out[list] = Math.max(out[list] ?? 0, sequence);
        }
      } catch {
        // Someone else's entry; not ours to judge.
      }
    }
  }
  return out;
}

/** Read back what a previous run left: sequences (hash, else the stream's tail) and the SET. */
export async function loadScannerState(redis: Redis): Promise<PersistedScannerState> {
  const [hash, active] = await Promise.all([redis.hgetall(SEQUENCES_KEY), redis.smembers(ACTIVE_TICKERS_KEY)]);
  const sequences: Partial<Record<Category, number>> = {};
  for (const c of CATEGORIES) {
    const n = sequenceOf(hash[c]);
    if (n !== null) sequences[c] = n;
  }
  if (CATEGORIES.some((c) => sequences[c] === undefined)) {
    // Never go back: take the larger of what the hash and the stream say.
    const fromStream = await sequencesFromStream(redis);
    for (const c of CATEGORIES) {
      const s = fromStream[c];
      if (s !== undefined && s > (sequences[c] ?? 0)) sequences[c] = s;
    }
  }
  return { sequences, active };
}

/** Queue the sequences write on a transaction (the publisher's MULTI). */
export function queueSequences(tx: ChainableCommander, sequences: Record<Category, number>): void {
  const flat: string[] = [];
  for (const c of CATEGORIES) flat.push(c, String(sequences[c]));
  tx.hset(SEQUENCES_KEY, ...flat);
}
