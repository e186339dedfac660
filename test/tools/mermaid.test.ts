import { describe, expect, it } from 'vitest';
import { and, fromPromise, not, setup, stateIn, type AnyStateMachine } from 'xstate';
import { describeMachine, guardLabel, mermaidDiagram, summarize, toMermaid } from '../../src/tools/mermaid.js';

// Small hand-written machines, one feature each, and the Mermaid lines they must produce.

const door = setup({
  guards: { isUnlocked: () => true, hasRoom: () => true },
  delays: { backoffDelay: 1000 },
}).createMachine({
  id: 'door',
  initial: 'closed',
  states: {
    closed: {
      on: { OPEN: { target: 'opened', guard: 'isUnlocked' }, LOCK: 'locked' },
    },
    opened: {
      initial: 'swinging',
      on: { CLOSE: 'closed' },
      states: {
        swinging: { always: { target: 'still', guard: 'hasRoom' } },
        still: { always: 'resting' },
        resting: { type: 'final' },
      },
      onDone: 'closed',
    },
    locked: {
      after: { backoffDelay: 'closed', 500: 'broken' },
    },
    broken: { type: 'final' },
  },
});

const lines = (m: AnyStateMachine): string[] => mermaidDiagram(m).split('\n').map((l) => l.trim());

/** Structural checks Mermaid needs: declared ids, valid identifiers, balanced blocks. */
function assertWellFormed(source: string): void {
  const rows = source.split('\n').map((l) => l.trim());
  expect(rows[0]).toBe('stateDiagram-v2');
  const declared = new Set<string>();
  let depth = 0;
  for (const row of rows.slice(1)) {
    const decl = /^state "([^"]*)" as ([^\s{]+)( \{)?$/.exec(row);
    if (decl) {
      const id = decl[2] ?? '';
      expect(id).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/);
      expect(declared.has(id), `${id} declared twice`).toBe(false);
      declared.add(id);
      if (decl[3]) depth += 1;
      continue;
    }
    if (row === '}') {
      depth -= 1;
      expect(depth).toBeGreaterThanOrEqual(0);
      continue;
    }
    if (row === '--') continue;
    const edge = /^(\S+) --> (\S+)(?: : ([^\n]+))?$/.exec(row);
    expect(edge, `not a Mermaid statement: ${row}`).not.toBeNull();
    for (const end of [edge?.[1], edge?.[2]]) {
      if (end === '[*]') continue;
      expect(declared.has(end ?? ''), `${end} used before its declaration`).toBe(true);
    }
    // Mermaid swaps `#<code>;` entities out before parsing; a bare `:` or `;` would end the label
    expect((edge?.[3] ?? '').replace(/#\d+;/g, '')).not.toMatch(/[:;#]/);
  }
  expect(depth).toBe(0);
}

describe('toMermaid', () => {
  it('draws initial states, events, guards, nested compound states and final states', () => {
    const l = lines(door);
    expect(l).toContain('[*] --> closed');
    expect(l).toContain('closed --> opened : OPEN [isUnlocked]');
    expect(l).toContain('closed --> locked : LOCK');
    expect(l).toContain('state "opened" as opened {');
    expect(l).toContain('[*] --> opened_swinging');
    expect(l).toContain('opened --> closed : CLOSE');
    expect(l).toContain('opened_resting --> [*]');
    expect(l).toContain('broken --> [*]');
    expect(l).toContain('opened --> closed : onDone');
    // the initial arrow of a block is inside the block, after its states
    const open = l.indexOf('state "opened" as opened {');
    expect(l.indexOf('[*] --> opened_swinging')).toBeGreaterThan(open);
    expect(l.indexOf('[*] --> opened_swinging')).toBeLessThan(l.indexOf('}', open));
    assertWellFormed(mermaidDiagram(door));
  });

  it('draws eventless transitions as `always`, with the guard name when there is one', () => {
    const l = lines(door);
    expect(l).toContain('opened_swinging --> opened_still : always [hasRoom]');
    expect(l).toContain('opened_still --> opened_resting : always');
  });

  it('labels delayed transitions with the delay name, or the number of ms', () => {
    const l = lines(door);
    expect(l).toContain('locked --> closed : after backoffDelay');
    expect(l).toContain('locked --> broken : after 500ms');
  });

  it('separates parallel regions with `--` and draws edges that leave a region at the top level', () => {
    const m = setup({}).createMachine({
      id: 'link',
      initial: 'open',
      states: {
        open: {
          type: 'parallel',
          states: {
            phase: { initial: 'connecting', states: { connecting: { on: { AUTH_SUCCESS: 'live' } }, live: {} } },
            watchdog: { initial: 'watching', states: { watching: { after: { heartbeatTimeout: '#link.backoff' } } } },
          },
          on: { CLOSED: 'backoff' },
        },
        backoff: { after: { backoffDelay: 'open' } },
      },
    });
    const l = lines(m);
    const block = l.indexOf('state "open (parallel)" as open {');
    expect(block).toBeGreaterThan(0);
    expect(l.slice(block)).toContain('--');
    expect(l.indexOf('--')).toBeGreaterThan(l.indexOf('state "phase" as open_phase {'));
    expect(l.indexOf('--')).toBeLessThan(l.indexOf('state "watchdog" as open_watchdog {'));
    expect(l).toContain('open_phase_connecting --> open_phase_live : AUTH_SUCCESS');
    expect(l).toContain('open --> backoff : CLOSED');
    expect(l).toContain('backoff --> open : after backoffDelay');
    // crosses two block boundaries: written after every block, at the top level
    const source = mermaidDiagram(m).split('\n');
    const cross = source.indexOf('  open_watchdog_watching --> backoff : after heartbeatTimeout');
    expect(cross).toBeGreaterThan(source.lastIndexOf('  }'));
    assertWellFormed(mermaidDiagram(m));
  });

  it('draws regions holding composite states without dividers (Mermaid cannot lay those out)', () => {
    const m = setup({}).createMachine({
      id: 'rec',
      type: 'parallel',
      states: {
        link: {
          initial: 'offline',
          states: {
            offline: { on: { CONNECTED: 'online' } },
            online: { initial: 'resyncing', states: { resyncing: {}, inSync: {} }, on: { DISCONNECTED: 'offline' } },
          },
        },
        loop: { initial: 'waiting', states: { waiting: {} } },
      },
    });
    const l = lines(m);
    expect(l).not.toContain('--');
    expect(l).toContain('state "rec (parallel)" as rec {');
    expect(l).toContain('[*] --> rec');
    expect(l).toContain('link_offline --> link_online : CONNECTED');
    assertWellFormed(mermaidDiagram(m));
  });

  it('merges the transitions that stay in a state into one loop with a line per transition', () => {
    const m = setup({ actions: { note: () => undefined } }).createMachine({
      id: 'loops',
      initial: 'live',
      on: { ACKED: { actions: 'note' } },
      states: {
        live: {
          on: { SEND: { actions: 'note' }, HEARTBEAT: { target: 'live', reenter: true }, STOP: 'done' },
          after: { stablePeriod: { actions: 'note' } },
        },
        done: { type: 'final' },
      },
    });
    const l = lines(m);
    expect(l).toContain('live --> live : SEND<br>HEARTBEAT<br>after stablePeriod');
    expect(l.filter((x) => x.startsWith('live --> live'))).toHaveLength(1);
    // the root's own transition makes the root a block the loop can attach to
    expect(l).toContain('state "loops" as loops {');
    expect(l).toContain('loops --> loops : ACKED');
    expect(summarize(describeMachine(m)).transitions).toBe(5);
    assertWellFormed(mermaidDiagram(m));
  });

  it('names invoked actors by their src when their id was generated', () => {
    const m = setup({ actors: { readDesired: fromPromise(async () => 1) } }).createMachine({
      id: 'loop',
      initial: 'reading',
      states: {
        reading: {
          invoke: { src: 'readDesired', onDone: 'waiting', onError: 'waiting' },
        },
        waiting: {
          invoke: { id: 'poller', src: 'readDesired', onDone: 'reading' },
        },
      },
    });
    const l = lines(m);
    expect(l).toContain('reading --> waiting : onDone(readDesired)');
    expect(l).toContain('reading --> waiting : onError(readDesired)');
    expect(l).toContain('waiting --> reading : onDone(poller)');
  });

  it('turns state keys into valid, unique Mermaid ids and keeps the key as the label', () => {
    const m = setup({}).createMachine({
      id: 'odd-names',
      initial: 'end',
      states: {
        end: { on: { 'ws:closed': 'my-state', 'a;b': 'my_state' } },
        'my-state': { on: { GO: 'default' } },
        my_state: {},
        default: {},
        conn: { initial: 'start', states: { start: {} } },
        '2fast': {},
      },
    });
    const src = mermaidDiagram(m);
    assertWellFormed(src);
    const l = lines(m);
    expect(l).toContain('state "end" as end_');
    expect(l).toContain('state "my-state" as my_state');
    expect(l).toContain('state "my_state" as my_state_2');
    expect(l).toContain('state "default" as default_');
    expect(l).toContain('state "2fast" as s_2fast');
    expect(l).toContain('end_ --> my_state : ws#58;closed');
    expect(l).toContain('end_ --> my_state_2 : a#59;b');
    // Mermaid calls a block's own start pseudo-state `<block>_start`: no state may take that id
    expect(l).toContain('state "start" as conn_start_2');
  });

  it('writes a document with the title, the description, and the states and events counted', () => {
    const doc = toMermaid(door, 'Door', { description: 'A door\nthat locks.' });
    expect(doc.startsWith('# Door\n\nA door that locks.\n\n```mermaid\nstateDiagram-v2\n')).toBe(true);
    expect(doc).toContain('## States (7)');
    expect(doc).toContain('- `opened.swinging` (atomic; initial)');
    expect(doc).toContain('- `locked` (atomic; after 500ms, backoffDelay)');
    expect(doc).toContain('- `broken` (final)');
    expect(doc).toContain('## Events (3)');
    expect(doc).toContain('- `CLOSE`: in `opened`');
    expect(doc).toContain('- `OPEN`: in `closed`');
    expect(doc).toContain('## Transitions (8)');
    expect(doc).toContain('- eventless (`always`): 2');
    expect(doc).toContain('- delayed (`after`): 2 — delays: `500ms`, `backoffDelay`');
    expect(toMermaid(door)).toMatch(/^# door\n/);
  });

  it('is deterministic', () => {
    expect(toMermaid(door, 'Door')).toBe(toMermaid(door, 'Door'));
  });
});

describe('guardLabel', () => {
  it('names references, parameterised guards, combinators and stateIn', () => {
    expect(guardLabel('isReady')).toBe('isReady');
    expect(guardLabel({ type: 'hasRoom', params: { n: 1 } })).toBe('hasRoom');
    expect(guardLabel(and(['a', not('b')]))).toBe('and(a, not(b))');
    expect(guardLabel(stateIn('live'))).toBe('in(live)');
    expect(guardLabel(function isLate() { return true; })).toBe('isLate');
    expect(guardLabel(() => true)).toBe('inline guard');
  });
});
