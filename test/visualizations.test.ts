import { describe, expect, it } from 'vitest';
import { MACHINES } from '../src/machines/index.js';
import { DEFAULT_OUT_DIR, checkVisualizations, renderAll } from '../src/tools/visualize.js';

// The committed diagrams in visualizations/ must be what the machines of today produce.

describe('visualizations/', () => {
  it('matches every registered machine (run `npm run visualize` after changing a machine)', async () => {
    const problems = await checkVisualizations(DEFAULT_OUT_DIR, renderAll(MACHINES));
    const detail = problems.map((p) => `visualizations/${p.file} is ${p.problem}`).join('; ');
    expect(problems, `${detail}. Run \`npm run visualize\` and commit visualizations/.`).toEqual([]);
  });

  it('has a page for each machine, named after it', () => {
    const files = renderAll(MACHINES);
    for (const m of MACHINES) expect(files.has(`${m.name.replace(/[^A-Za-z0-9._-]/g, '-')}.md`), m.name).toBe(true);
    expect(files.size).toBe(MACHINES.length + 1);
  });
});
