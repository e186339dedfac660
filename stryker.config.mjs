// @ts-check
// Mutation testing of the statecharts and the subscription logic (issue 12): `npm run test:mutation`
// runs scripts/mutation.mjs, which runs this once per target with only its own tests.
// Surviving mutants judged equivalent are listed in docs/mutation-equivalent-mutants.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'stryker.vitest.config.ts', related: false },
  mutate: ['src/machines/**/*.ts', 'src/subscriptions/**/*.ts', '!src/machines/index.ts'],
  // Built output and other roles' artefacts change under our feet on a shared checkout: not copied.
  ignorePatterns: ['dist', 'coverage', 'reports', '.livescan', '.build', 'visualizations', 'bench'],
  coverageAnalysis: 'perTest',
  // The machine is shared: one test process.
  concurrency: 1,
  // Stryker allows the dry run's time × 1.5 plus this: a mutant that loops (an `always` without its guard) fails soon.
  timeoutMS: 5_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incremental: false,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
