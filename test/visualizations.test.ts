import { describe, expect, it } from 'vitest';
import { MACHINES } from '../src/machines/index.js';
import { DEFAULT_OUT_DIR, checkVisualizations, renderAll, renderAllWithSvg } from '../src/tools/visualize.js';

// The committed diagrams in visualizations/ must be what the machines of today produce.

describe('visualizations/', () => {
  it('matches every registered machine (run `npm run visualize` after changing a machine)', async () => {
    const problems = await checkVisualizations(DEFAULT_OUT_DIR, await renderAllWithSvg(MACHINES));
    const detail = problems.map((p) => `visualizations/${p.file} is ${p.problem}`).join('; ');
    expect(problems, `${detail}. Run \`npm run visualize\` and commit visualizations/.`).toEqual([]);
  });

  it('has a page for each machine, named after it', () => {
    const files = renderAll(MACHINES);
    for (const m of MACHINES) expect(files.has(`${m.name.replace(/[^A-Za-z0-9._-]/g, '-')}.md`), m.name).toBe(true);
    expect(files.size).toBe(MACHINES.length + 1);
  });

  it('draws an SVG of every machine, the same twice', async () => {
    const a = await renderAllWithSvg(MACHINES);
    const b = await renderAllWithSvg(MACHINES);
    for (const m of MACHINES) {
      const svg = a.get(`${m.name}.svg`) ?? '';
      expect(svg, m.name).toContain('<svg');
      expect(svg, m.name).not.toContain('fonts.googleapis');
      expect(b.get(`${m.name}.svg`), m.name).toBe(svg);
    }
  });
});
