import { defineConfig } from 'vitest/config';

// End-to-end tests and the benchmark: build the app and serve it once (e2e/serve.ts), then
// drive Chromium, one file at a time.
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts', 'bench/**/*.test.ts'],
    globalSetup: ['e2e/serve.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
