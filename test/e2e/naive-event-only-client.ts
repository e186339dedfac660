import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import { ACTIVE_TICKERS_KEY, SUBSCRIPTIONS_STREAM } from '../../src/shared/redis-keys.js';
import { encodeAuth, encodeSubscription } from '../../src/upstream/codec.js';

// The original polygon_ws of the diagnosis document, reduced to its bug: the SET is read once at
// bootstrap, events add to and discard from an in-memory `desired_subscriptions`, and every
// reconnect resubscribes from that memory. It exists only so the regression test can prove that
// it catches this bug; nothing in src/ looks like it.

export function startNaiveClient(opts: { url: string; apiKey: string; redis: Redis }): { stop(): Promise<void> } {
  const desired = new Set<string>();
  let ws: WebSocket | null = null;
  let stopped = false;
  let lastId = '$';

  const connect = () => {
    if (stopped) return;
    const sock = new WebSocket(opts.url);
    ws = sock;
    sock.on('message', (data: WebSocket.RawData) => {
      const events = JSON.parse(data.toString()) as { ev: string; status?: string }[];
      for (const e of events) {
        if (e.status === 'connected') sock.send(encodeAuth(opts.apiKey));
        if (e.status === 'auth_success' && desired.size > 0) sock.send(encodeSubscription('subscribe', [...desired]));
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (!stopped) setTimeout(connect, 100);
    });
  };

  const consume = async () => {
    const reader = opts.redis.duplicate();
    while (!stopped) {
      const res = (await reader.xread('BLOCK', 200, 'STREAMS', SUBSCRIPTIONS_STREAM, lastId).catch(() => null)) as
        | [string, [string, string[]][]][]
        | null;
      for (const [id, fields] of res?.[0]?.[1] ?? []) {
        lastId = id;
        const rec: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) rec[fields[i] as string] = fields[i + 1] as string;
        const symbol = rec.symbol as string;
        const open = ws?.readyState === WebSocket.OPEN;
        if (rec.action === 'subscribe') {
          desired.add(symbol);
          if (open) ws?.send(encodeSubscription('subscribe', [symbol]));
        } else {
          desired.delete(symbol);
          if (open) ws?.send(encodeSubscription('unsubscribe', [symbol]));
        }
      }
    }
    reader.disconnect();
  };

  void (async () => {
    for (const s of await opts.redis.smembers(ACTIVE_TICKERS_KEY)) desired.add(s);
    connect();
    await consume();
  })();

  return {
    async stop() {
      stopped = true;
      ws?.close();
      await new Promise((r) => setTimeout(r, 300));
    },
  };
}
