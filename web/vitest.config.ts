import { defineConfig } from 'vitest/config';

// Unit tests: pure functions in Node, no browser and no models
export default defineConfig({
  test: { include: ['tests/**/*.test.ts'], environment: 'node' },
});
