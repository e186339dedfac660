// Inspection events as text, and the little the relay reads back from them: JSON of whatever an
// event carries (safeJson), and an event's type, actor and status (for the replay cache), from
// the package's events or from a frame another process sent.

import type { StatelyInspectionEvent } from '@statelyai/inspect';
import type { RelayedMeta } from './replay-cache.js';

const MAX_DEPTH = 10;

export function metaOf(event: StatelyInspectionEvent): RelayedMeta | null {
  if (typeof event.sessionId !== 'string') return null;
  if (event.type === '@xstate.actor') return { type: event.type, sessionId: event.sessionId, parentId: event.parentId };
  if (event.type === '@xstate.snapshot') return { type: event.type, sessionId: event.sessionId, status: statusOf(event.snapshot) };
  return { type: event.type, sessionId: event.sessionId };
}

/** A frame from another process: an `@xstate.*` event with a session id, or null. */
export function parseRelayed(text: string): RelayedMeta | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !v.type.startsWith('@xstate.') || typeof v.sessionId !== 'string') return null;
  return {
    type: v.type,
    sessionId: v.sessionId,
    parentId: typeof v.parentId === 'string' ? v.parentId : undefined,
    status: statusOf(v.snapshot),
  };
}

function statusOf(snapshot: unknown): string | undefined {
  if (!snapshot || typeof snapshot !== 'object') return undefined;
  const status = (snapshot as { status?: unknown }).status;
  return typeof status === 'string' ? status : undefined;
}

/**
 * JSON of an inspection event whatever it carries: actor refs and snapshots (their toJSON),
 * cycles, BigInt, errors, Maps and Sets, functions (by name, as the package does), depth-limited.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(plain(value, 0, new Set<object>())) ?? 'null';
}

function plain(value: unknown, depth: number, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return value;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
      return { type: value.name || 'function' };
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_DEPTH) return '[…]';
  if (ancestors.has(value)) return '[Circular]';
  ancestors.add(value);
  try {
    if (value instanceof Error) return { name: value.name, message: value.message };
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Map) return [...value.entries()].map(([k, v]) => [plain(k, depth + 1, ancestors), plain(v, depth + 1, ancestors)]);
    if (value instanceof Set) return [...value].map((v) => plain(v, depth + 1, ancestors));
    if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1, ancestors) ?? null);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(value);
      return json === value ? plainObject(value, depth, ancestors) : plain(json, depth, ancestors);
    }
    return plainObject(value, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function plainObject(value: object, depth: number, ancestors: Set<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const p = plain(v, depth + 1, ancestors);
    if (p !== undefined) out[k] = p;
  }
  return out;
}
