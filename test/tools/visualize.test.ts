import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { describeMachine } from '../../src/tools/mermaid.js';
import { GENERATED_MARKER, checkVisualizations, renderAll, renderAllWithSvg, tagStates, writeVisualizations } from '../../src/tools/visualize.js';

const toggle = setup({}).createMachine({
  id: 'toggle',
  initial: 'off',
  states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' }, after: { idleTimeout: 'off' } } },
});
const light = setup({}).createMachine({ id: 'light', initial: 'dark', states: { dark: { on: { SWITCH: 'lit' } }, lit: {} } });

const machines = [
  { name: 'toggle', machine: toggle, description: 'Flips | back and forth.' },
  { name: 'light', machine: light, description: 'Turns on once.' },
];

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

describe('renderAll', () => {
  it('gives one page per machine and an index with links and counts', () => {
    const files = renderAll(machines);
    expect([...files.keys()]).toEqual(['toggle.md', 'light.md', 'README.md']);
    const index = files.get('README.md') ?? '';
    expect(index.startsWith(GENERATED_MARKER)).toBe(true);
    expect(index).toContain('| [toggle](toggle.md) ([svg](toggle.svg)) | Flips \\| back and forth. | 2 | 1 | 3 |');
    expect(index).toContain('| [light](light.md) ([svg](light.svg)) | Turns on once. | 2 | 1 | 1 |');
    const page = files.get('toggle.md') ?? '';
    expect(page.startsWith(`${GENERATED_MARKER}\n# toggle\n\nFlips | back and forth.\n`)).toBe(true);
    expect(page).toContain('on --> off : after idleTimeout');
  });

  it('still writes an index for an empty registry', () => {
    const files = renderAll([]);
    expect([...files.keys()]).toEqual(['README.md']);
    expect(files.get('README.md')).toContain('No machine is registered');
  });

  it('refuses two machines that would share a file', () => {
    expect(() => renderAll([machines[0]!, { ...machines[1]!, name: 'toggle' }])).toThrow(/unique/);
    expect(() => renderAll([{ ...machines[0]!, name: 'readme' }])).toThrow(/index/);
  });
});

describe('writeVisualizations / checkVisualizations', () => {
  it('writes, then finds the folder up to date; a stale page, a missing one and an orphan are reported', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'viz-'));
    const files = renderAll(machines);
    const first = await writeVisualizations(dir, files);
    expect(first.written.sort()).toEqual(['README.md', 'light.md', 'toggle.md']);
    expect(await checkVisualizations(dir, files)).toEqual([]);
    expect((await writeVisualizations(dir, files)).written).toEqual([]);

    // the machine changed since its page was written
    const changed = renderAll([{ ...machines[0]!, description: 'Now different.' }, machines[1]!]);
    expect(await checkVisualizations(dir, changed)).toEqual([
      { file: 'toggle.md', problem: 'stale' },
      { file: 'README.md', problem: 'stale' },
    ]);

    // a machine was removed from the registry: its page is an orphan; a new one is missing
    const withoutLight = renderAll([machines[0]!, { name: 'extra', machine: light, description: 'x' }]);
    const problems = await checkVisualizations(dir, withoutLight);
    expect(problems).toContainEqual({ file: 'extra.md', problem: 'missing' });
    expect(problems).toContainEqual({ file: 'light.md', problem: 'orphan' });

    // regenerating removes pages it generated, and only those
    await writeFile(path.join(dir, 'notes.md'), '# hand-written\n');
    const second = await writeVisualizations(dir, withoutLight);
    expect(second.removed).toEqual(['light.md']);
    expect((await readdir(dir)).sort()).toEqual(['README.md', 'extra.md', 'notes.md', 'toggle.md']);
    expect(await readFile(path.join(dir, 'notes.md'), 'utf8')).toBe('# hand-written\n');
    expect(await checkVisualizations(dir, withoutLight)).toEqual([]);
  });
});

describe('state paths in the SVG', () => {
  const nested = setup({}).createMachine({
    id: 'nested',
    initial: 'open',
    states: { open: { type: 'parallel', states: { phase: { initial: 'live', states: { live: {} } }, age: { initial: 'young', states: { young: {} } } } }, idle: {} },
  });

  it('gives each drawn state its dotted path, as a snapshot value names it', async () => {
    const svg = (await renderAllWithSvg([{ name: 'nested', machine: nested, description: 'd' }])).get('nested.svg') ?? '';
    for (const p of ['open', 'open.phase', 'open.phase.live', 'open.age', 'open.age.young', 'idle']) expect(svg).toContain(`data-state="${p}"`);
    expect(svg).toMatch(/data-id="open_phase_live" data-state="open.phase.live"/);
  });

  it('tags only known state ids, leaving start/end markers and edges alone', () => {
    const model = describeMachine(light);
    const svg = '<g class="node" data-id="dark" data-label="dark"><g class="node" data-id="_start" data-label=""><polyline data-from="dark" data-to="lit"/><g class="subgraph" data-id="lit">';
    expect(tagStates(svg, model)).toBe(
      '<g class="node" data-id="dark" data-state="dark" data-label="dark"><g class="node" data-id="_start" data-label=""><polyline data-from="dark" data-to="lit"/><g class="subgraph" data-id="lit" data-state="lit">',
    );
  });
});
