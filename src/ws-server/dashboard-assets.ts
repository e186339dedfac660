import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The dashboard is three static files kept in src/ws-server/dashboard/ (tsc copies no assets).
// They are found from this module's own location by walking up to the directory that holds
// them, which works from src/ws-server (vitest), dist/ws-server (node dist/main.js) and
// .build/src/ws-server (benchmarks) alike.

const RELATIVE = path.join('src', 'ws-server', 'dashboard');
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export interface StaticAsset {
  body: Buffer;
  type: string;
}

export function findDashboardDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, RELATIVE);
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** url path -> file; empty when the directory is missing (the caller logs it). */
export function loadDashboard(dir: string | null): Map<string, StaticAsset> {
  const out = new Map<string, StaticAsset>();
  if (!dir) return out;
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const p = path.join(dir, file);
    if (existsSync(p)) out.set(url, { body: readFileSync(p), type });
  }
  return out;
}
