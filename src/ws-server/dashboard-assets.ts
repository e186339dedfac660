import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MACHINES } from '../machines/index.js';
import { findAssetDir } from '../shared/asset-dir.js';

// The dashboard is three static files kept in src/ws-server/dashboard/ (tsc copies no assets),
// found from this module's own location (src/shared/asset-dir.ts). Beside them: uPlot's two
// files from node_modules (the page works offline, no CDN) and the statechart diagrams of
// visualizations/, which the page lights up with each machine's live state.

const RELATIVE = path.join('src', 'ws-server', 'dashboard');
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const UPLOT_FILES: Record<string, { file: string; type: string }> = {
  '/vendor/uPlot.iife.min.js': { file: 'uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: 'uPlot.min.css', type: 'text/css; charset=utf-8' },
};
/** The diagrams' manifest: which machine id each diagram draws. */
export const DIAGRAMS_INDEX = '/diagrams/index.json';

export interface StaticAsset {
  body: Buffer;
  type: string;
}

export function findDashboardDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string | null {
  return findAssetDir(RELATIVE, 'index.html', from);
}

/**
 * A generated diagram made fit for the page: the page's CSP allows no inline style, so the
 * diagram's own <style> block and style attribute go (style.css gives the same variables, in the
 * dashboard's colours), and so does the generator's comment.
 */
export function diagramForPage(svg: string): string {
  return svg
    .replace(/^<!--[^]*?-->\s*/, '')
    .replace(/<style>[^]*?<\/style>\s*/, '')
    .replace(/(<svg\b[^>]*?)\s+style="[^"]*"/, '$1');
}

function loadUplot(repoRoot: string, out: Map<string, StaticAsset>): void {
  let dist: string;
  try {
    dist = path.dirname(createRequire(path.join(repoRoot, 'package.json')).resolve('uplot/dist/uPlot.iife.min.js'));
  } catch {
    return;
  }
  for (const [url, { file, type }] of Object.entries(UPLOT_FILES)) {
    const p = path.join(dist, file);
    if (existsSync(p)) out.set(url, { body: readFileSync(p), type });
  }
}

function loadDiagrams(repoRoot: string, out: Map<string, StaticAsset>): void {
  const dir = path.join(repoRoot, 'visualizations');
  const index: { name: string; machine: string; url: string; description: string }[] = [];
  for (const m of MACHINES) {
    const p = path.join(dir, `${m.name}.svg`);
    if (!existsSync(p)) continue;
    const url = `/diagrams/${m.name}.svg`;
    out.set(url, { body: Buffer.from(diagramForPage(readFileSync(p, 'utf8'))), type: 'image/svg+xml; charset=utf-8' });
    index.push({ name: m.name, machine: m.machine.id, url, description: m.description });
  }
  out.set(DIAGRAMS_INDEX, { body: Buffer.from(JSON.stringify(index)), type: 'application/json; charset=utf-8' });
}

/** url path -> file; empty when the directory is missing (the caller logs it). */
export function loadDashboard(dir: string | null): Map<string, StaticAsset> {
  const out = new Map<string, StaticAsset>();
  if (!dir) return out;
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const p = path.join(dir, file);
    if (existsSync(p)) out.set(url, { body: readFileSync(p), type });
  }
  // The dashboard directory is <repo>/src/ws-server/dashboard.
  const repoRoot = path.resolve(dir, '..', '..', '..');
  loadUplot(repoRoot, out);
  loadDiagrams(repoRoot, out);
  return out;
}
