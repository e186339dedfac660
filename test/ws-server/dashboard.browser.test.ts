/// <reference lib="dom" />
import { spawn, type ChildProcess } from 'node:child_process';
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
import { freePort } from '../../src/shared/free-port.js';
import { startTestRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/wait.js';
import { FakeScanner } from './helpers/fake-scanner.js';
import { captureLog } from './helpers/log.js';

// The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
// it loads, renders the lists, follows deltas and prices published to Redis, and recovers the
// right rows after a gap, whether the server or the page saw it; it draws the timeline of the
// heart, a price line per row, the statecharts' live states and the simulated-prices banner. The
// last block runs `node dist/main.js` as `npm start` does and checks all of it on real data.

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

  const statusOf = (gap: number, updatedAt = new Date(), extra: Record<string, unknown> = {}) =>
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
      upstream: 'simulator',
      ...extra,
      updated_at: updatedAt.toISOString(),
    });

  // Real services rewrite their status every 2 s; the strip calls one stale after 15 s. The
  // tests before the status strip's may take longer than that on a busy machine.
  const writeFreshStatuses = async () => {
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(0));
    await redis.client.set(
      serviceStatusKey('scanner'),
      JSON.stringify({
        role: 'scanner',
        state: 'live',
        source: 'simulated',
        last_cycle_at: new Date().toISOString(),
        active_tickers: 42,
        // Eleven entries, as the real scanner writes them: every one must stay readable.
        lists: Object.fromEntries(CATEGORIES.map((c, i) => [c, 20 + i])),
        updated_at: new Date().toISOString(),
      }),
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
  it('takes live prices in batches and draws a price line per row', async () => {
    const row = scanner.lists.get(list)?.[1];
    const sym = row?.symbol ?? '';
    const base = row?.price as number;
    // As the server sends them to a connection that asked for `batch`.
    for (let i = 0; i < 4; i++) {
      await page.evaluate(
        ([s, p, t]) => {
          const w = globalThis as unknown as { livescan: { handleMessage(m: unknown): void } };
          w.livescan.handleMessage({ type: 'aggregates', items: [{ symbol: s, price: p, time: t }, { symbol: 'NOT-LISTED', price: 1, time: t }] });
        },
        [sym, Math.round((base + i * 0.5) * 100) / 100, Date.now()] as const,
      );
    }
    const cell = `#list-${list} td.price[data-symbol="${sym}"]`;
    await eventually(async () => (await page.textContent(cell)) === (Math.round((base + 1.5) * 100) / 100).toFixed(2), 'batched price shown');
    const spark = `#list-${list} tr[data-symbol="${sym}"] svg.spark`;
    expect(Number(await page.getAttribute(spark, 'data-points'))).toBeGreaterThanOrEqual(4);
    expect(await page.getAttribute(spark, 'class')).toContain('up');
    expect((await page.getAttribute(`${spark} polyline`, 'points'))?.split(' ').length).toBeGreaterThanOrEqual(4);
    // Every row has its line's place, drawn or waiting for prices.
    const rows = await page.$$eval(`#list-${list} tbody tr[data-symbol]`, (trs) => trs.length);
    expect(await page.$$eval(`#list-${list} tbody tr[data-symbol] svg.spark`, (s) => s.length)).toBe(rows);
    const stats = await page.evaluate(() => (globalThis as unknown as { livescan: { stats: { batches: number } } }).livescan.stats);
    expect(stats.batches).toBeGreaterThanOrEqual(4);
    expect(pageErrors).toEqual([]);
  });

  it('draws the timeline of the heart from the history the server kept, with reconnects and their causes marked', async () => {
    // Four minutes of polygon-ws documents, read by the ws-server as they are written: a storm
    // of two policy closes two minutes ago, then convergence.
    const start = Date.now() - 4 * 60_000;
    for (let i = 0; i < 12; i++) {
      const storm = i >= 6;
      const reconnections = storm ? 2 : 0;
      const ack = i === 6 ? 12 : i === 7 ? 30 : 40;
      await redis.client.set(
        serviceStatusKey('polygon-ws'),
        statusOf(40 - ack, new Date(start + i * 20_000), { reconnections, closes_by_cause: storm ? { policy: 2 } : {}, state: i === 6 ? 'backoff' : 'live' }),
      );
      expect((await fetch(`${server.url}/status`)).status).toBe(200);
    }
    await writeFreshStatuses();
    await eventually(
      async () => (await page.evaluate(() => (globalThis as unknown as { livescan: { heart: { samples: unknown[] } } }).livescan.heart.samples.length)) >= 13,
      'history on the page',
    );
    await eventually(async () => (await page.textContent('#heart-marks'))?.includes('2 reconnects: policy ×2'), 'reconnect marked');
    const plot = await page.evaluate(() => {
      const h = (globalThis as unknown as { livescan: { heart: { plot: { data: (number | null)[][] } | null; drawn: number } } }).livescan.heart;
      return { points: h.plot?.data[0]?.length ?? 0, acked: h.plot?.data[2] ?? [], drawn: h.drawn };
    });
    expect(plot.points).toBeGreaterThanOrEqual(13);
    expect(plot.acked).toContain(12);
    expect(plot.drawn).toBeGreaterThan(0);
    // The lines are on the canvas: pixels of the acknowledged line's colour (--good).
    const green = await page.$eval('#heart-chart canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] === 46 && data[i + 1] === 160 && data[i + 2] === 67) n++;
      return n;
    });
    expect(green).toBeGreaterThan(20);
    expect(await page.textContent('#heart-availability')).toBe('availability 99.8 %');
    expect(pageErrors).toEqual([]);
  });

  it('marks simulated prices with a banner', async () => {
    await writeFreshStatuses();
    await eventually(async () => await page.isVisible('#sim-banner'), 'banner shown');
    const text = await page.textContent('#sim-banner');
    expect(text).toContain('Polygon simulator');
    expect(text).toContain('ranked market is simulated');
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(0, new Date(), { upstream: 'polygon' }));
    await redis.client.set(serviceStatusKey('scanner'), JSON.stringify({ role: 'scanner', state: 'live', source: 'polygon', updated_at: new Date().toISOString() }));
    await eventually(async () => !(await page.isVisible('#sim-banner')), 'banner gone with real prices');
    await writeFreshStatuses();
  });

  it('lights up each machine\'s published state on its diagram', async () => {
    const since = new Date().toISOString();
    const machines = {
      polygonWs: { value: 'running', status: 'active', since },
      connection: { value: { open: { phase: 'live', sends: 'quiet', age: 'mature', watchdog: 'watching', handshake: 'done' } }, status: 'active', since },
    };
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(0, new Date(), { machines }));
    await eventually(async () => (await page.$$('#machine-diagrams figure[data-name="connection"] g.node.active')).length === 5, 'connection lit');
    const lit = await page.$$eval('#machine-diagrams figure[data-name="connection"] .active', (gs) => gs.map((g) => g.getAttribute('data-state')).sort());
    expect(lit).toEqual(['open', 'open.age', 'open.age.mature', 'open.handshake', 'open.handshake.done', 'open.phase', 'open.phase.live', 'open.sends', 'open.sends.quiet', 'open.watchdog', 'open.watchdog.watching']);
    expect(await page.textContent('.machine-tab[data-name="connection"] .pill')).toBe('live');
    expect(await page.isVisible('#machine-diagrams figure[data-name="connection"] svg')).toBe(true);
    expect(await page.$$eval('#machine-diagrams figure[data-name="polygon-ws"] .active', (gs) => gs.map((g) => g.getAttribute('data-state')))).toEqual(['running']);
    // A machine nobody published is drawn unlit and says so.
    expect(await page.$$('#machine-diagrams figure[data-name="scanner"] .active')).toHaveLength(0);
    expect(await page.textContent('.machine-tab[data-name="scanner"] .pill')).toBe('not running');
    // The live state follows the machine.
    await redis.client.set(serviceStatusKey('polygon-ws'), statusOf(0, new Date(), { machines: { ...machines, connection: { value: 'backoff', status: 'active', since } } }));
    await eventually(
      async () => JSON.stringify(await page.$$eval('#machine-diagrams figure[data-name="connection"] .active', (gs) => gs.map((g) => g.getAttribute('data-state')))) === '["backoff"]',
      'backoff lit',
    );
    await page.click('.machine-tab[data-name="polygon-ws"]');
    expect(await page.isVisible('#machine-diagrams figure[data-name="polygon-ws"] svg')).toBe(true);
    expect(await page.isVisible('#machine-diagrams figure[data-name="connection"] svg')).toBe(false);
    expect(pageErrors).toEqual([]);
  });

  it('lays the status cards out without holes or cut lines, on dark scrollbars', async () => {
    await writeFreshStatuses();
    await eventually(async () => (await page.textContent('[data-role="scanner"] dd[data-field="lists"]'))?.includes('reversals'), 'scanner lists');
    // Every entry of a long field is there in full, none cut with an ellipsis.
    const lists = await page.textContent('[data-role="scanner"] dd[data-field="lists"]');
    for (const c of CATEGORIES) expect(lists).toContain(c);
    expect(lists).not.toContain('…');
    const clipped = await page.$$eval('.card dd', (dds) => dds.filter((d) => d.scrollWidth > d.clientWidth + 1).map((d) => `${d.dataset.field}: ${d.textContent}`));
    expect(clipped).toEqual([]);
    // Four cards in two full rows: the ws-server card is not alone on a row.
    const boxes = await page.$$eval('#status-strip .card', (cs) => cs.map((c) => c.getBoundingClientRect()).map((r) => ({ top: Math.round(r.top), width: Math.round(r.width) })));
    expect(boxes).toHaveLength(4);
    const rows = new Map<number, number>();
    for (const b of boxes) rows.set(b.top, (rows.get(b.top) ?? 0) + 1);
    expect([...rows.values()].every((n) => n === 2)).toBe(true);
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe('dark');
    await page.screenshot({ path: '/tmp/livescan/dashboard-redis-fed.png', fullPage: true }).catch(() => undefined);
    expect(pageErrors).toEqual([]);
  });
});

// `npm start` as a user runs it (dist/ built by the test command): every part of the page on the
// real services' data, the machines' states included, with no script error.
describe('dashboard of `node dist/main.js` in Chromium', () => {
  const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
  let child: ChildProcess | null = null;
  let browser: Browser;
  let page: Page;
  let url = '';
  const pageErrors: string[] = [];
  const output: string[] = [];

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error('dist/main.js missing: run `npm run build` (npm test does it)');
    const [httpPort, wsPort] = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${wsPort}/`;
    child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', HTTP_PORT: String(httpPort), WS_SERVER_PORT: String(wsPort), SCAN_INTERVAL_MS: '1000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => null))?.status === 200, 'polygon-ws ready', 60_000, 250);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  type Livescan = {
    heart: { samples: { acknowledged: number | null }[]; plot: { data: unknown[][] } | null; drawn: number };
    stats: { batches: number; aggregates: number };
  };
  const livescan = () => page.evaluate(() => {
    const l = (globalThis as unknown as { livescan: Livescan }).livescan;
    return { samples: l.heart.samples, points: l.heart.plot?.data[0]?.length ?? 0, drawn: l.heart.drawn, batches: l.stats.batches, prices: l.stats.aggregates };
  });

  it('draws the timeline, price lines, live statecharts and the simulator banner, with no script error', async () => {
    await page.goto(url);
    // The timeline: the samples the server kept since start, then the page's own polls.
    await eventually(async () => (await livescan()).points >= 3, 'timeline points', 30_000, 250);
    const heart = await livescan();
    expect(heart.drawn).toBeGreaterThan(0);
    expect(heart.samples.some((s) => typeof s.acknowledged === 'number' && s.acknowledged > 0)).toBe(true);
    // Live prices arrive batched (the page asks for it), and draw their lines.
    await eventually(async () => (await livescan()).batches > 0, 'price batches', 30_000, 250);
    await eventually(async () => (await page.$$('svg.spark[data-points]:not([data-points="0"]):not([data-points="1"])')).length > 0, 'a price line', 30_000, 250);
    // The statecharts, lit from the machines' own inspection events.
    const lit = (name: string) => page.$$eval(`#machine-diagrams figure[data-name="${name}"] .active`, (gs) => gs.map((g) => g.getAttribute('data-state')));
    await eventually(async () => (await lit('connection')).includes('open.phase.live'), 'connection live', 30_000, 250);
    expect(await lit('polygon-ws')).toEqual(['running']);
    expect((await lit('leader')).includes('leading')).toBe(true);
    expect((await lit('reconciler')).length).toBeGreaterThan(0);
    await eventually(async () => (await lit('scanner')).length > 0, 'scanner lit', 30_000, 250);
    // Demo prices say so.
    expect(await page.isVisible('#sim-banner')).toBe(true);
    expect(await page.textContent('#sim-banner')).toContain('Polygon simulator');
    await page.screenshot({ path: '/tmp/livescan/dashboard.png', fullPage: true }).catch(() => undefined);
    await page.locator('.overview').screenshot({ path: '/tmp/livescan/dashboard-overview.png' }).catch(() => undefined);
    await page.locator('#machines').screenshot({ path: '/tmp/livescan/dashboard-machines.png' }).catch(() => undefined);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
