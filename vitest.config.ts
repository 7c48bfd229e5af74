import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // two cores: more workers only fight over them
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
