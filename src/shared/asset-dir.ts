import { existsSync } from 'node:fs';
import path from 'node:path';

// Static files (pages, scripts) stay in src/ beside the module that serves them: tsc copies no
// assets. A module finds them by walking up from its own directory to the one that holds
// `relative`, which works from src/ (vitest), dist/ (node dist/main.js) and .build/src/
// (benchmarks) alike.

/** The directory `relative` (e.g. src/services/inspector) that holds `marker`, found above `from`; null if none. */
export function findAssetDir(relative: string, marker: string, from: string): string | null {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, relative);
    if (existsSync(path.join(candidate, marker))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}
