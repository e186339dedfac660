import { describe, expect, it } from 'vitest';

// Every machine definition is valid: it is built when its module loads, so a definition XState
// rejects (an unknown target, a compound state without an initial one) throws at import. The
// imports here are inside the tests on purpose: a test file whose static imports throw reports
// no failed test at all (mutation testing would count the broken machine as a survivor).
const modules = ['connection', 'reconciler', 'leader', 'scanner', 'polygon-ws'];

describe('machine definitions', () => {
  it.each(modules)('%s.machine.ts loads and defines its machine', async (name) => {
    const mod = (await import(`../../src/machines/${name}.machine.ts`)) as Record<string, unknown>;
    const machines = Object.values(mod).filter((v): v is { id: string; root: { key: string } } => typeof v === 'object' && v !== null && 'root' in v && 'id' in v);
    expect(machines.map((m) => m.id)).toEqual([name === 'polygon-ws' ? 'polygonWs' : name]);
  });

  it('the configuration, whose defaults are the machines\' defaults, loads and gives them', async () => {
    const { loadConfig } = await import('../../src/config/env.js');
    const { defaultConnectionSettings } = await import('../../src/machines/connection.machine.js');
    const { connectionSettingsFromConfig } = await import('../../src/roles/polygon-ws/settings.js');
    expect(connectionSettingsFromConfig(loadConfig({})).backoff).toEqual(defaultConnectionSettings.backoff);
  });
});
