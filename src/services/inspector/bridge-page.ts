import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findAssetDir } from '../../shared/asset-dir.js';

// The bridge page (bridge.html, a static file beside this module) with its two settings filled
// in: the Stately web inspector it embeds, and how long it waits for that inspector's hello
// before it says the inspector cannot be reached.

const RELATIVE = path.join('src', 'services', 'inspector');
const FILE = 'bridge.html';

export interface BridgeSettings {
  inspectorUrl: string;
  connectTimeoutMs: number;
}

/** bridge.html's path, or null when it cannot be found (the caller logs it). */
export function findBridgePage(from: string = path.dirname(fileURLToPath(import.meta.url))): string | null {
  const dir = findAssetDir(RELATIVE, FILE, from);
  return dir ? path.join(dir, FILE) : null;
}

const escapeAttribute = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The page's settings go into attributes of its <meta> tags, escaped (a function replacement: no `$` patterns). */
export function renderBridgePage(template: string, settings: BridgeSettings): string {
  return template
    .replace('{{INSPECTOR_URL}}', () => escapeAttribute(settings.inspectorUrl))
    .replace('{{CONNECT_TIMEOUT_MS}}', () => String(Math.max(0, Math.round(settings.connectTimeoutMs))));
}

export function loadBridgePage(file: string | null, settings: BridgeSettings): string | null {
  return file ? renderBridgePage(readFileSync(file, 'utf8'), settings) : null;
}
