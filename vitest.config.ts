import { defineConfig } from 'vitest/config';

// Integration tests start real redis-server and WebSocket servers: give them room on a busy
// 2-core machine instead of racing wall-clock timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
