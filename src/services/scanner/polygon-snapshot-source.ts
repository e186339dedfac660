import { parsePolygonSnapshot, SnapshotFormatError, type MarketSnapshot, type MarketSource } from '../../scanner/market-snapshot.js';
import { scrubText } from '../../shared/logger.js';

// The real market: Polygon's (Massive's) full-market snapshot over REST, one GET per scan.
// The key goes in the Authorization header by default, so it is in no URL that an error, a proxy
// log or a stack trace could repeat; the provider also accepts `?apiKey=` (option `auth: 'query'`).
// Whatever happens, every error message is scrubbed of the key before it leaves this module.

export const SNAPSHOT_PATH = '/v2/snapshot/locale/us/markets/stocks/tickers';

export type MarketSourceErrorKind = 'timeout' | 'aborted' | 'network' | 'http' | 'too_large' | 'invalid';

export class MarketSourceError extends Error {
  constructor(
    readonly kind: MarketSourceErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'MarketSourceError';
  }
}

export interface PolygonSnapshotSourceOptions {
  apiKey: string;
  /** POLYGON_REST_URL, e.g. https://api.massive.com (a path prefix is kept). */
  baseUrl: string;
  /** Whole request, body included. */
  timeoutMs?: number;
  /** A body larger than this is refused (a full market is ~5-10 MB). */
  maxBytes?: number;
  auth?: 'header' | 'query';
  now?: () => number;
}

export const POLYGON_SOURCE_DEFAULTS = { timeoutMs: 8_000, maxBytes: 64 * 1024 * 1024 } as const;

/** The request URL; with `auth: 'query'` it carries the key: never log it. */
export function snapshotUrl(baseUrl: string, apiKey: string, auth: 'header' | 'query'): string {
  const u = new URL(baseUrl.replace(/\/+$/, '') + SNAPSHOT_PATH);
  u.searchParams.set('include_otc', 'false');
  if (auth === 'query') u.searchParams.set('apiKey', apiKey);
  return u.toString();
}

export function createPolygonSnapshotSource(opts: PolygonSnapshotSourceOptions): MarketSource {
  const auth = opts.auth ?? 'header';
  const timeoutMs = opts.timeoutMs ?? POLYGON_SOURCE_DEFAULTS.timeoutMs;
  const maxBytes = opts.maxBytes ?? POLYGON_SOURCE_DEFAULTS.maxBytes;
  const now = opts.now ?? Date.now;
  const url = snapshotUrl(opts.baseUrl, opts.apiKey, auth);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (auth === 'header') headers.authorization = `Bearer ${opts.apiKey}`;

  const clean = (text: string) =>
    scrubText(text, [opts.apiKey, encodeURIComponent(opts.apiKey)]).replace(/apiKey=[^&\s"']*/gi, 'apiKey=[redacted]');
  const fail = (kind: MarketSourceErrorKind, message: string, status?: number) =>
    new MarketSourceError(kind, clean(message), status);

  async function readCapped(res: Response): Promise<string> {
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) throw fail('too_large', `market source body of ${declared} bytes exceeds ${maxBytes}`);
    if (!res.body) return '';
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw fail('too_large', `market source body exceeds ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  return {
    name: 'polygon',
    async fetch(signal: AbortSignal): Promise<MarketSnapshot> {
      const timeout = AbortSignal.timeout(timeoutMs);
      const both = AbortSignal.any([signal, timeout]);
      const takenAtMs = now();
      let text: string;
      let res: Response;
      try {
        res = await fetch(url, { headers, signal: both, redirect: 'follow' });
        text = await readCapped(res);
      } catch (err) {
        if (err instanceof MarketSourceError) throw err;
        if (timeout.aborted) throw fail('timeout', `market source did not answer within ${timeoutMs} ms`);
        if (signal.aborted) throw fail('aborted', 'market source request cancelled');
        const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
        const cause = e.cause ? ` (${String(e.cause.code ?? e.cause.message ?? '')})` : '';
        throw fail('network', `market source unreachable: ${String(e.message ?? err)}${cause}`);
      }
      if (!res.ok) {
        const hint = res.status === 401 || res.status === 403 ? ' (check POLYGON_API_KEY)' : '';
        const snippet = text.replace(/\s+/g, ' ').slice(0, 200);
        throw fail('http', `market source answered HTTP ${res.status}${hint}${snippet ? `: ${snippet}` : ''}`, res.status);
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw fail('invalid', `market source sent invalid JSON (${text.length} bytes, starting ${JSON.stringify(text.slice(0, 40))})`);
      }
      try {
        return parsePolygonSnapshot(body, takenAtMs);
      } catch (err) {
        if (err instanceof SnapshotFormatError) throw fail('invalid', err.message);
        throw err;
      }
    },
  };
}
