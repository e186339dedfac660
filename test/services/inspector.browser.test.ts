import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { startInspector, type RunningInspector } from '../../src/services/inspector.js';
import { freePort } from '../../src/shared/free-port.js';
import { createLogger } from '../../src/shared/logger.js';

// The bridge page in a real headless Chromium: it tells the user when the Stately inspector
// cannot be reached (offline: the iframe stays blank), and stays out of the way when it can
// (a stand-in inspector on another origin that says hello as stately.ai's does).

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'];

// Announces itself to its parent as the Stately inspector does, and keeps what it is sent.
const STAND_IN = `<!doctype html><script>
window.received = [];
window.addEventListener('message', function (e) { window.received.push(e.data); });
window.parent.postMessage({ type: '@statelyai.connected' }, '*');
</script>`;

const ping = setup({ types: { events: {} as { type: 'PING' } } }).createMachine({ id: 'pinger', initial: 'idle', states: { idle: { on: { PING: 'idle' } } } });

let browser: Browser;
let inspector: RunningInspector | null = null;
let standIn: http.Server | null = null;
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's "chromium" package (scripts/ensure-deps.sh should)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await inspector?.stop();
  inspector = null;
  if (standIn) await new Promise<void>((resolve) => standIn?.close(() => resolve()));
  standIn = null;
});

describe('inspector bridge page in Chromium', () => {
  it('says the Stately inspector cannot be reached, and what to do, when it does not answer', async () => {
    // Nothing listens there: the iframe shows the browser's error page, as offline.
    const nowhere = `http://127.0.0.1:${await freePort()}/inspect`;
    inspector = await startInspector({ port: 0, log, inspectorUrl: nowhere, connectTimeoutMs: 500 });
    const page = await browser.newPage();
    try {
      await page.goto(inspector.openUrl);
      const notice = page.locator('#offline');
      await notice.waitFor({ state: 'visible', timeout: 20_000 });
      const text = await notice.innerText();
      expect(text).toContain('cannot be reached');
      expect(text).toContain(nowhere);
      expect(text).toContain('internet');
      expect(text).toContain('dashboard');
      expect(text).toContain('visualizations/');
      // The relay itself works: the status box says so.
      await page.locator('#s', { hasText: 'live' }).waitFor({ timeout: 20_000 });
    } finally {
      await page.close();
    }
  });

  it('shows no notice once the inspector says hello, and hands it the events', async () => {
    standIn = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(STAND_IN);
    });
    await new Promise<void>((resolve) => standIn?.listen(0, '127.0.0.1', () => resolve()));
    // Another origin than the bridge's (another port), as stately.ai is.
    const standInUrl = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}/inspect`;
    inspector = await startInspector({ port: 0, log, inspectorUrl: standInUrl, connectTimeoutMs: 500 });
    const actor = createActor(ping, { inspect: inspector.inspect });
    actor.start();
    const page = await browser.newPage();
    try {
      await page.goto(inspector.openUrl);
      actor.send({ type: 'PING' });
      await expect
        .poll(
          async () =>
            page
              .frames()
              .find((f) => f.url() === standInUrl)
              ?.evaluate(() => (window as unknown as { received: Array<{ type?: string }> }).received.map((m) => m.type)),
          { timeout: 20_000 },
        )
        .toContain('@xstate.event');
      // Well past the timeout: the notice never showed.
      await page.waitForTimeout(1_000);
      expect(await page.locator('#offline').isVisible()).toBe(false);
    } finally {
      await page.close();
      actor.stop();
    }
  });
});
