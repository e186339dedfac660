import { describe, expect, it } from 'vitest';
import { ReplayCache, type RelayedMeta } from '../../../src/services/inspector/replay-cache.js';

const actor = (id: string, parentId?: string): [string, RelayedMeta] => [`actor:${id}`, { type: '@xstate.actor', sessionId: id, parentId }];
const snapshot = (id: string, n: number, status = 'active'): [string, RelayedMeta] => [`snap:${id}:${n}`, { type: '@xstate.snapshot', sessionId: id, status }];
const event = (id: string, n: number): [string, RelayedMeta] => [`event:${id}:${n}`, { type: '@xstate.event', sessionId: id }];

function fill(cache: ReplayCache, ...msgs: Array<[string, RelayedMeta]>): void {
  for (const [m, meta] of msgs) cache.remember(m, meta);
}

describe('ReplayCache', () => {
  it('replays registrations, then each actor`s latest snapshot, then the recent messages', () => {
    const cache = new ReplayCache({ replayEvents: 2, maxActors: 10 });
    fill(cache, actor('root'), snapshot('root', 1), event('root', 1), actor('child', 'root'), snapshot('root', 2), snapshot('child', 1), event('child', 1));
    expect(cache.replay()).toEqual(['actor:root', 'actor:child', 'snap:root:2', 'snap:child:1', 'snap:child:1', 'event:child:1']);
  });

  it('keeps a registration and its latest snapshot however many events came since', () => {
    const cache = new ReplayCache({ replayEvents: 3, maxActors: 10 });
    fill(cache, actor('root'), snapshot('root', 1));
    for (let i = 0; i < 100; i++) fill(cache, event('root', i));
    expect(cache.replay()).toEqual(['actor:root', 'snap:root:1', 'event:root:97', 'event:root:98', 'event:root:99']);
  });

  it('forgets a child actor that finished, never a root one', () => {
    const cache = new ReplayCache({ replayEvents: 0, maxActors: 10 });
    fill(cache, actor('root'), actor('a', 'root'), actor('b', 'root'), snapshot('a', 1, 'done'), snapshot('b', 1, 'error'), snapshot('root', 1, 'stopped'));
    expect(cache.replay()).toEqual(['actor:root', 'snap:root:1']);
  });

  it('beyond maxActors forgets the oldest child first, and a root only when no child is left', () => {
    const cache = new ReplayCache({ replayEvents: 0, maxActors: 2 });
    fill(cache, actor('root'), actor('c1', 'root'), actor('c2', 'root'));
    expect(cache.replay()).toEqual(['actor:root', 'actor:c2']);
    fill(cache, actor('root2'));
    expect(cache.replay()).toEqual(['actor:root', 'actor:root2']);
    fill(cache, actor('root3'));
    expect(cache.replay()).toEqual(['actor:root2', 'actor:root3']);
  });

  it('a registration seen again moves to the end and starts without a snapshot', () => {
    const cache = new ReplayCache({ replayEvents: 0, maxActors: 10 });
    fill(cache, actor('a'), snapshot('a', 1), actor('b'), actor('a'));
    expect(cache.replay()).toEqual(['actor:b', 'actor:a']);
  });

  it('clear() forgets everything', () => {
    const cache = new ReplayCache({ replayEvents: 5, maxActors: 5 });
    fill(cache, actor('a'), snapshot('a', 1), event('a', 1));
    cache.clear();
    expect(cache.replay()).toEqual([]);
  });
});
