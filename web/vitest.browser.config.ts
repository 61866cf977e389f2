import { defineConfig } from 'vitest/config';

// End-to-end tests and the benchmark: build the app, serve it, drive Chromium. One at a time.
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
