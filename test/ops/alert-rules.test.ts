import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The shipped alert rules, checked by Prometheus's own tool: syntax and expressions
// (`promtool check rules`), then each alert against series that breach its target and series that
// do not (`promtool test rules`, ops/prometheus/alerts.test.yml). promtool comes with Debian's
// `prometheus` package, which `npm test` installs (scripts/ensure-deps.sh --with-browser).

const DIR = new URL('../../ops/prometheus/', import.meta.url).pathname;

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool: ${r.error.message} (run \`sh scripts/ensure-deps.sh --with-browser\`: it installs Debian's prometheus)`);
  return r;
}

describe('ops/prometheus/alerts.yml', () => {
  it('passes promtool check rules', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    expect(r.stdout + r.stderr).toContain('SUCCESS: 6 rules found');
    expect(r.status).toBe(0);
  });

  it('passes its unit tests (promtool test rules)', () => {
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
