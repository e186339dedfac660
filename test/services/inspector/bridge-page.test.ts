import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findBridgePage, loadBridgePage, renderBridgePage } from '../../../src/services/inspector/bridge-page.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PAGE = path.join(root, 'src', 'services', 'inspector', 'bridge.html');

describe('bridge page', () => {
  it('is found from src (tests), from dist (node dist/main.js) and from .build/src (benchmarks)', () => {
    for (const from of ['src', 'dist', path.join('.build', 'src')]) {
      expect(findBridgePage(path.join(root, from, 'services', 'inspector'))).toBe(PAGE);
    }
    expect(findBridgePage()).toBe(PAGE);
    expect(findBridgePage(path.parse(root).root)).toBeNull();
    expect(loadBridgePage(null, { inspectorUrl: 'https://stately.ai/inspect', connectTimeoutMs: 1 })).toBeNull();
  });

  it('fills in both settings, escaped, and leaves no placeholder', () => {
    const html = renderBridgePage(readFileSync(PAGE, 'utf8'), { inspectorUrl: 'https://x.test/i?a=1&b="2"$&', connectTimeoutMs: 2500.4 });
    expect(html).toContain('<meta name="livescan-inspector-url" content="https://x.test/i?a=1&amp;b=&quot;2&quot;$&amp;">');
    expect(html).toContain('<meta name="livescan-inspector-timeout-ms" content="2500">');
    expect(html).not.toMatch(/\{\{[A-Z_]+\}\}/);
  });

  it('says what to do when stately.ai cannot be reached', () => {
    const html = readFileSync(PAGE, 'utf8');
    expect(html).toContain('id="offline"');
    expect(html).toMatch(/needs? internet|from\s+the internet/);
    expect(html).toContain('visualizations/');
    expect(html).toContain('dashboard');
  });
});
