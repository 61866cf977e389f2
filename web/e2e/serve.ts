/**
 * Global set-up of the end-to-end tests and the benchmark: bundle the project's models, build
 * the app and serve it once for every test file; the files read its address with inject('appUrl').
 */

import type { TestProject } from 'vitest/node';
import { serveBuiltApp } from './harness';

declare module 'vitest' {
  export interface ProvidedContext {
    appUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const app = await serveBuiltApp();
  project.provide('appUrl', app.url);
  return app.close;
}
