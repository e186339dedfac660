import { describe, expect, it } from 'vitest';
import { MACHINES } from '../../src/machines/index.js';
import { DIAGRAMS_INDEX, diagramForPage, findDashboardDir, loadDashboard } from '../../src/ws-server/dashboard-assets.js';

// What the ws-server serves for the dashboard: its three files, uPlot from node_modules (no CDN),
// and the generated statechart diagrams made fit for a page whose CSP forbids inline style.

describe('dashboard assets', () => {
  const assets = loadDashboard(findDashboardDir());

  it('serves the page, uPlot and every machine diagram with its manifest', () => {
    for (const url of ['/', '/app.js', '/style.css', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css', DIAGRAMS_INDEX]) {
      expect(assets.get(url)?.body.length, url).toBeGreaterThan(0);
    }
    expect(assets.get('/vendor/uPlot.iife.min.js')?.body.toString()).toContain('uPlot');
    const index = JSON.parse(assets.get(DIAGRAMS_INDEX)?.body.toString() ?? '[]') as { name: string; machine: string; url: string }[];
    expect(index.map((d) => [d.name, d.machine])).toEqual(MACHINES.map((m) => [m.name, m.machine.id]));
    for (const d of index) {
      const svg = assets.get(d.url)?.body.toString() ?? '';
      expect(svg.startsWith('<svg'), d.url).toBe(true);
      expect(svg).not.toContain('<style');
      expect(svg.slice(0, svg.indexOf('>'))).not.toContain('style=');
      // Every state is findable by the dotted path of a snapshot's value.
      expect(svg).toMatch(/data-state="[A-Za-z]/);
    }
    const conn = assets.get('/diagrams/connection.svg')?.body.toString() ?? '';
    expect(conn).toContain('data-state="open.phase.live"');
  });

  it('strips only the generator comment, the style block and the root style', () => {
    const svg = '<!-- gen -->\n<svg xmlns="x" width="1" style="--bg:#fff"><style>\n text {}\n</style>\n<g class="node" style="keep"></g></svg>';
    expect(diagramForPage(svg)).toBe('<svg xmlns="x" width="1"><g class="node" style="keep"></g></svg>');
  });

  it('is empty without a dashboard directory', () => {
    expect(loadDashboard(null).size).toBe(0);
  });
});
