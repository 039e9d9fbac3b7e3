import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Peers (daemons, agents) start per file; two cores, so keep parallelism modest.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: process.env.CI ? ['default', './test/support/no-skip-reporter.ts'] : ['default'],
  },
});
