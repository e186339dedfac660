/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import {
  AGGREGATES_STREAM,
  CATEGORIES,
  categoryKey,
  RANKING_DELTAS_STREAM,
  serviceStatusKey,
  STREAM_DATA_FIELD,
  type Category,
} from '../../src/shared/redis-keys.js';
import { startWsServer, type WsServerHandle } from '../../src/roles/ws-server.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { captureLog } from './helpers/log.js';

// The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
// it loads, renders the lists, follows deltas and prices published to Redis, and recovers the
// right rows after a gap, whether the server or the page saw it.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function pageRows(page: Page, list: Category): Promise<string[]> {
  return page.$$eval(`#list-${list} tbody tr[data-symbol]`, (trs) => trs.map((tr) => tr.getAttribute('data-symbol') ?? ''));
}

describe('dashboard in Chromium', () => {
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let server: WsServerHandle;
  let scanner: FakeScanner;
  let browser: Browser;
  let page: Page;
  let list: Category = 'gappers_up';
  const pageErrors: string[] = [];

  const statusOf = (gap: number, updatedAt = new Date()) =>
    JSON.stringify({
      role: 'polygon-ws',
      state: 'live',
      gap,
      desired: 40,
      acknowledged: 40 - gap,
      coverage: (40 - gap) / 40,
      availability: gap === 0 ? 0.9987 : 0.9,
      last_reconciliation: new Date().toISOString(),
      reconnections: 0,
      updated_at: updatedAt.toISOString(),
    });

  // Real services rewrite their status every 2 s; the strip calls one stale after 15 s. The
  // tests before the status strip's may take longer than that on a busy machine.
  const writeFreshStatuses = async () => {
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(0));
    await redis.client.set(
      serviceStatusKey('scanner'),
      JSON.stringify({ role: 'scanner', state: 'live', last_cycle_at: new Date().toISOString(), active_tickers: 42, updated_at: new Date().toISOString() }),
    );
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's "chromium" package (scripts/ensure-deps.sh should)`);
    }
    redis = await startTestRedis();
    scanner = new FakeScanner(redis.client, { seed: 11, maxRows: 25 });
    await scanner.scan();
    await scanner.scan();
    // The test follows the fullest list, so there is something to see.
    list = [...CATEGORIES].sort((a, b) => (scanner.lists.get(b)?.length ?? 0) - (scanner.lists.get(a)?.length ?? 0))[0] ?? list;
    await writeFreshStatuses();
    server = await startWsServer({
      config: { ...loadConfig({}), WS_SERVER_PORT: 0, WS_SERVER_HOST: '127.0.0.1' },
      redisUrl: redis.server.url,
      log: captureLog('warn').log,
      blockMs: 1_000,
      statusIntervalMs: 500,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await redis?.stop();
  });

  const scannerRows = () => (scanner.lists.get(list) ?? []).map((r) => r.symbol);

  it('loads and renders every list', async () => {
    await page.goto(server.url);
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'list rendered');
    expect(await page.$$eval('#lists .panel', (ps) => ps.length)).toBe(CATEGORIES.length);
    for (const c of CATEGORIES) expect(await pageRows(page, c)).toEqual((scanner.lists.get(c) ?? []).map((r) => r.symbol));
    expect(pageErrors).toEqual([]);
  });

  it('applies a delta published to Redis', async () => {
    await scanner.scan();
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'delta shown');
    const meta = await page.textContent(`#list-${list} [data-role=meta]`);
    expect(meta).toContain(`seq ${scanner.sequence.get(list)}`);
  });

  it('flashes a live price', async () => {
    const row = scanner.lists.get(list)?.[0];
    expect(row).toBeDefined();
    const sym = row?.symbol ?? '';
    const price = Math.round(((row?.price as number) + 7.13) * 100) / 100;
    const ev = { ev: 'A', sym, v: 5, av: 500, op: 1, vw: 1, o: 1, c: price, h: price, l: 1, a: 1, z: 1, s: Date.now() - 1000, e: Date.now() };
    await redis.client.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify(ev));
    const cell = `#list-${list} td.price[data-symbol="${sym}"]`;
    await eventually(async () => (await page.textContent(cell)) === price.toFixed(2), 'price updated');
    expect(await page.getAttribute(cell, 'data-dir')).toBe('up');
    expect(await page.getAttribute(cell, 'class')).toContain('flash-up');
  });

  it('shows preferreds and classes under their own names; a price of AMpB moves AMpB, never AMPB', async () => {
    // Symbols are case-sensitive upstream: AMpB (a preferred) and AMPB are two stocks.
    const extra = [
      { symbol: 'AMpB', price: 21.5 },
      { symbol: 'AMPB', price: 4.25 },
      { symbol: 'BRK.B', price: 500.5 },
    ].map((r) => ({ ...r, rank: 0, change_percent: 5, volume: 60_000, rvol: 3, market_cap: null }));
    const rest = (scanner.lists.get(list) ?? []).filter((r) => !extra.some((e) => e.symbol === r.symbol));
    scanner.lists.set(list, [...extra, ...rest].map((r, i) => ({ ...r, rank: i + 1 })));
    await scanner.publishSnapshot(list);
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'preferreds shown');
    for (const sym of ['AMpB', 'AMPB', 'BRK.B']) {
      expect(await page.textContent(`#list-${list} tr[data-symbol="${sym}"] td.sym`)).toBe(sym);
    }
    const t = Date.now();
    for (const [sym, c] of [['AMpB', 23.75], ['BRK.B', 501.25]] as const) {
      const ev = { ev: 'A', sym, v: 5, av: 500, op: 1, vw: 1, o: 1, c, h: c, l: 1, a: 1, z: 1, s: t - 1000, e: t };
      await redis.client.xadd(AGGREGATES_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify(ev));
    }
    const priceOf = (sym: string) => page.textContent(`#list-${list} td.price[data-symbol="${sym}"]`);
    await eventually(async () => (await priceOf('AMpB')) === '23.75' && (await priceOf('BRK.B')) === '501.25', 'preferred and class prices');
    expect(await priceOf('AMPB')).toBe('4.25');
    expect(pageErrors).toEqual([]);
  });

  it('restores the right rows after a gap the server sees', async () => {
    const prev = scanner.lists.get(list) ?? [];
    const next = scanner.evolve(prev);
    const seq = (scanner.sequence.get(list) ?? 0) + 2; // one delta never published
    scanner.lists.set(list, next);
    scanner.sequence.set(list, seq);
    await redis.client
      .multi()
      .set(categoryKey(list), JSON.stringify(next))
      .xadd(RANKING_DELTAS_STREAM, '*', STREAM_DATA_FIELD, JSON.stringify({ type: 'delta', list, sequence: seq, deltas: [], change_count: 0 }))
      .exec();
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'rows after server-side gap');
    expect(await page.textContent(`#list-${list} [data-role=meta]`)).toContain(`seq ${seq}`);
  });

  it('resyncs after a gap the page sees, and the right rows come back', async () => {
    const victim = scannerRows()[0] ?? 'XX';
    await page.evaluate(
      ([l, sym]) => {
        const w = globalThis as unknown as { livescan: { handleMessage(m: unknown): void } };
        w.livescan.handleMessage({ type: 'delta', list: l, sequence: 999_999, deltas: [{ action: 'remove', symbol: sym }], change_count: 1 });
      },
      [list, victim] as const,
    );
    const stats = await page.evaluate(() => (globalThis as unknown as { livescan: { stats: { gaps: number; resyncs: number } } }).livescan.stats);
    expect(stats.gaps).toBeGreaterThanOrEqual(1);
    expect(stats.resyncs).toBeGreaterThanOrEqual(1);
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'rows after resync');
    // And the list goes on with deltas afterwards.
    await scanner.scan();
    await eventually(async () => JSON.stringify(await pageRows(page, list)) === JSON.stringify(scannerRows()), 'delta after resync');
  });

  it('shows every service in the status strip and flags trouble', async () => {
    await writeFreshStatuses();
    await eventually(async () => (await page.textContent('#summary'))?.includes('all in sync'), 'all in sync');
    expect(await page.textContent('[data-role="polygon-ws"] dd[data-field="gap"]')).toBe('0');
    // Coverage and availability as percentages, never rounded up to a full 100 %.
    expect(await page.textContent('[data-role="polygon-ws"] dd[data-field="coverage"]')).toBe('100.0 %');
    expect(await page.textContent('[data-role="polygon-ws"] dd[data-field="availability"]')).toBe('99.8 %');
    expect(await page.textContent('[data-role="scanner"] dd[data-field="active_tickers"]')).toBe('42');
    expect(await page.textContent('[data-role="ws-server"] .pill')).toBe('live');
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(5, new Date(Date.now() - 60_000)));
    await eventually(async () => (await page.textContent('#summary'))?.includes('polygon-ws: gap 5'), 'gap flagged');
    expect(await page.textContent('#summary')).toContain('polygon-ws: stale');
    expect(await page.getAttribute('[data-role="polygon-ws"] dd[data-field="coverage"]', 'class')).toBe('bad');
    expect(await page.getAttribute('[data-role="polygon-ws"] dd[data-field="availability"]', 'class')).toBe('warn');
    await page.screenshot({ path: '/tmp/livescan-dashboard.png', fullPage: true }).catch(() => undefined);
    expect(pageErrors).toEqual([]);
  });
});
