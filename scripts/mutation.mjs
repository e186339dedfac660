// Mutation testing (issue 12), one Stryker run per target with only that target's tests:
// `npm run test:mutation` (all groups) or `npm run test:mutation -- connection leader`.
//
// Why groups: a mutant in a machine definition is "static" (the definition runs when the module
// is imported), so Stryker cannot tell which tests cover it and runs every test in scope for each
// one. Scoped to the target's own tests, a run takes minutes instead of hours. Tests outside a
// group might kill more mutants, so each score is a lower bound.
//
// One test process at a time (concurrency 1): on a 2-core machine a second would only slow both.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GROUPS = {
  connection: {
    mutate: ['src/machines/connection.machine.ts', 'src/machines/backoff.ts'],
    tests: ['test/machines/connection*.test.ts', 'test/machines/production-defaults.test.ts', 'test/machines/backoff.test.ts', 'test/machines/polygon-ws.machine.test.ts'],
  },
  reconciler: {
    mutate: ['src/machines/reconciler.machine.ts'],
    // The connection and the reconciler together (polygon-ws.machine.test.ts): the window and the pace over time.
    tests: ['test/machines/reconciler*.test.ts', 'test/machines/production-defaults.test.ts', 'test/machines/polygon-ws.machine.test.ts'],
  },
  leader: { mutate: ['src/machines/leader.machine.ts'], tests: ['test/machines/leader*.test.ts'] },
  'polygon-ws': {
    mutate: ['src/machines/polygon-ws.machine.ts', 'src/machines/protocol.ts'],
    tests: ['test/machines/polygon-ws*.test.ts'],
  },
  scanner: { mutate: ['src/machines/scanner.machine.ts'], tests: ['test/machines/scanner*.test.ts'] },
  subscriptions: { mutate: ['src/subscriptions/**/*.ts'], tests: ['test/subscriptions/**/*.test.ts'] },
};

// A machine whose definition XState rejects throws at import; only this test sees it as a failure.
const DEFINITIONS = 'test/machines/machine-definitions.test.ts';
for (const [name, g] of Object.entries(GROUPS)) if (name !== 'subscriptions') g.tests.push(DEFINITIONS);

// `named`: the mutants issue 12 found surviving, written out by hand (Stryker does not make all of
// them: it never swaps one state name for another), each applied alone to a copy of the checkout
// and run against its group's tests. Every one must be killed.
const C = 'src/machines/connection.machine.ts';
const R = 'src/machines/reconciler.machine.ts';
const L = 'src/machines/leader.machine.ts';
const NAMED = [
  ['a `backoff: {}` default (NaN delay)', C, 'backoff: { baseMs: 500, maxMs: 30_000 },', 'backoff: {} as BackoffSettings,', 'connection'],
  ['every close counted as a 1008 strike', C, ': event.code !== 1008', ': false', 'connection'],
  ['UPSTREAM_DROPPED losing its target', C, "UPSTREAM_DROPPED: { target: 'backoff', actions", 'UPSTREAM_DROPPED: { actions', 'connection'],
  ['SYNCED (and so live) before anything is acknowledged', R, 'context.book.desired !== null && !hasInFlight(context.book) && !hasPending(context.book) && gapOf(context.book) === 0', 'context.book.desired !== null && gapOf(context.book) === 0', 'reconciler'],
  ['hints older than a full read overriding it', R, 'if (h.obs <= read.obs) continue;', 'if (h.obs < 0) continue;', 'reconciler'],
  ['a second CONNECTED without DISCONNECTED keeping the old book', R, "CONNECTED: { target: 'online', reenter: true, actions: ['clearBook', raise({ type: 'RESYNC' })] },", "CONNECTED: { actions: raise({ type: 'RESYNC' }) },", 'reconciler'],
  ['STOP no longer final', C, "stopped: { type: 'final' },", 'stopped: {},', 'connection'],
  ['RENEWED not re-entering', L, "on: { RENEWED: { target: 'counting', reenter: true } },", "on: { RENEWED: { target: 'counting', reenter: false } },", 'leader'],
  ['presence `missing` → `confirmedEmpty` on SET_PRESENT', R, "on: { SET_PRESENT: 'present' },\n          after", "on: { SET_PRESENT: 'confirmedEmpty' },\n          after", 'reconciler'],
  ['the close-code mapping (heartbeat and handshake codes swapped)', C, "code: 4000, reason: 'heartbeat_timeout'", "code: 4001, reason: 'heartbeat_timeout'", 'connection'],
  ['the close-code mapping (a kick as a normal close)', C, "return { code: 1008, reason: event.message, cause: 'max_connections'", "return { code: 1000, reason: event.message, cause: 'max_connections'", 'connection'],
];

function runNamed() {
  const box = mkdtempSync(join(tmpdir(), 'livescan-named-mutants-'));
  for (const d of ['src', 'test', 'package.json', 'tsconfig.json', 'stryker.vitest.config.ts']) cpSync(d, join(box, d), { recursive: true });
  symlinkSync(join(process.cwd(), 'node_modules'), join(box, 'node_modules'));
  const rows = [];
  try {
    for (const [name, file, from, to, group] of NAMED) {
      const original = readFileSync(file, 'utf8');
      if (!original.includes(from)) {
        rows.push(`| ${name} | not applied: the code changed, update scripts/mutation.mjs |`);
        process.exitCode = 1;
        continue;
      }
      writeFileSync(join(box, file), original.replace(from, to));
      const tests = GROUPS[group].tests;
      const run = spawnSync('npx', ['vitest', 'run', '--config', 'stryker.vitest.config.ts', '--bail', '1'], {
        cwd: box,
        encoding: 'utf8',
        env: { ...process.env, MUTATION_TESTS: tests.join(',') },
      });
      writeFileSync(join(box, file), original);
      if (run.status === 0) process.exitCode = 1;
      const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
      const why = output.split('\n').find((l) => /AssertionError|Error:/.test(l))?.trim().slice(0, 100) ?? '';
      rows.push(`| ${name} | ${run.status === 0 ? '**survived**' : `killed: ${why.replaceAll('|', '\\|')}`} |`);
      console.log(rows.at(-1));
    }
  } finally {
    rmSync(box, { recursive: true, force: true });
  }
  return ['| mutant named in issue 12 | result |', '|---|---|', ...rows].join('\n');
}

const OUT = 'reports/mutation';

const asked = process.argv.slice(2);
for (const name of asked) if (!(name in GROUPS) && name !== 'named') throw new Error(`unknown group ${name}; groups: ${Object.keys(GROUPS).join(', ')}, named`);
const names = (asked.length > 0 ? asked : [...Object.keys(GROUPS), 'named']).filter((n) => n !== 'named');
const named = asked.length === 0 || asked.includes('named');

/** Per file: killed, survived, no coverage, timeout, errors, and the score over the valid mutants. */
function tally(report) {
  const rows = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const n = (status) => mutants.filter((m) => m.status === status).length;
    const row = { file, killed: n('Killed'), survived: n('Survived'), noCoverage: n('NoCoverage'), timeout: n('Timeout') };
    row.errors = n('CompileError') + n('RuntimeError');
    const valid = row.killed + row.timeout + row.survived + row.noCoverage;
    row.score = valid === 0 ? 100 : (100 * (row.killed + row.timeout)) / valid;
    rows.push(row);
  }
  return rows;
}

mkdirSync(OUT, { recursive: true });
const results = [];
const started = Date.now();
for (const name of names) {
  const group = GROUPS[name];
  const t0 = Date.now();
  console.log(`[mutation] ${name}: mutating ${group.mutate.join(', ')} against ${group.tests.join(', ')}`);
  const run = spawnSync('npx', ['stryker', 'run', '--mutate', group.mutate.join(','), '--concurrency', '1'], {
    stdio: 'inherit',
    env: { ...process.env, MUTATION_TESTS: group.tests.join(',') },
  });
  const seconds = Math.round((Date.now() - t0) / 1000);
  if (run.status !== 0) {
    console.error(`[mutation] ${name}: stryker exited with ${run.status}`);
    process.exitCode = 1;
    continue;
  }
  copyFileSync(`${OUT}/mutation.json`, `${OUT}/${name}.json`);
  for (const row of tally(JSON.parse(readFileSync(`${OUT}/${name}.json`, 'utf8')))) results.push({ group: name, seconds, ...row });
}

const lines = [
  '| file | score | killed | survived | no coverage | timeout | group (run time) |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.file.replace(/^src\//, '')} | ${r.score.toFixed(2)} % | ${r.killed} | ${r.survived} | ${r.noCoverage} | ${r.timeout} | ${r.group} (${r.seconds} s) |`),
];
if (named) lines.push('', runNamed());
writeFileSync(`${OUT}/summary.md`, `${lines.join('\n')}\n`);
console.log(`\n${lines.join('\n')}\n\ntotal ${Math.round((Date.now() - started) / 1000)} s; table in ${OUT}/summary.md`);
