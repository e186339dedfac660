import { defineConfig } from 'vitest/config';

// The tests mutation testing runs against (npm run test:mutation): the pure machines and the
// subscription logic, tested without I/O. Integration tests would only slow every mutant down.
// MUTATION_TESTS narrows the set while iterating on one file (a comma-separated list of globs):
// fewer tests kill fewer mutants, so a narrowed score is a lower bound.
const narrowed = process.env.MUTATION_TESTS?.split(',').filter(Boolean);

export default defineConfig({
  test: {
    include: narrowed ?? ['test/machines/**/*.test.ts', 'test/subscriptions/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
