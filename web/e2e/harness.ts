/**
 * Shared by the end-to-end tests and the benchmark: bundle the models of a pipeline project,
 * build the app, serve the build on localhost, and drive Debian's Chromium with playwright-core.
 * Anything missing (Chromium, the project's models, Python) fails with what to do; nothing skips.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import type { TestHook } from '../src/testHook';

export const WEB = fileURLToPath(new URL('..', import.meta.url));
/** The project whose pipeline outputs (models/, data/) are used: $PIPELINE_PROJECT or the repo root. */
export const PROJECT = resolve(process.env.PIPELINE_PROJECT ?? join(WEB, '..'));
const VENV_PYTHON = join(WEB, '..', '.venv', 'bin', 'python');
export const PYTHON = process.env.PYTHON ?? (existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
/** Where the bundle script puts the models the built app serves. */
export const MODELS = join(WEB, 'public', 'models');
/** Scratch files of a run (noise, reference outputs); git-ignored. */
export const SCRATCH = join(WEB, '.e2e');
export const SCREENSHOTS = join(WEB, 'screenshots');

/** The repository root, where `python -m tools.<name>` runs. */
export const ROOT = join(WEB, '..');

/** Run one of the repository's tools (`python -m tools.<tool>`); its stderr becomes the error. */
export function python(tool: string, args: string[]): string {
  try {
    return execFileSync(PYTHON, ['-m', `tools.${tool}`, ...args], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`tools.${tool} ${args.join(' ')} failed:\n${stderr || message}`);
  }
}

export interface App {
  url: string;
  close: () => Promise<void>;
}

/** Bundle the project's models into public/models, build the app and serve dist/ on localhost. */
export async function serveBuiltApp(): Promise<App> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM`);
  }
  mkdirSync(SCRATCH, { recursive: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  python('web_models', ['--project', PROJECT]);
  await build({ root: WEB, logLevel: 'warn' });
  const server: PreviewServer = await preview({
    root: WEB,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port: 0, open: false },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview did not report its address');
  return { url, close: () => server.close() };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A page with the test hook installed, recording console errors of the page and its workers, and every URL requested. */
export async function openApp(
  browser: Browser,
  url: string,
  viewport = { width: 1280, height: 900 },
  device: { isMobile?: boolean; hasTouch?: boolean; deviceScaleFactor?: number } = {},
): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport, ...device });
  const errors: string[] = [];
  const requests: string[] = [];
  const record = (message: ConsoleMessage) => {
    if (message.type() === 'error') errors.push(message.text());
  };
  page.on('console', record);
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('worker', (worker) => worker.on('console', record));
  page.on('request', (request) => requests.push(request.url()));
  await page.addInitScript(() => {
    (window as { __test__?: object }).__test__ = {};
  });
  await page.goto(url);
  return { page, errors, requests };
}

/** Wait until the runtime has loaded every model (the status pill says ready). */
export async function waitUntilReady(page: Page): Promise<void> {
  await page
    .getByRole('status', { name: 'Runtime status' })
    .filter({ hasText: /^ready/ })
    .waitFor({ timeout: 120_000 });
}

export function readHook<K extends keyof TestHook>(page: Page, key: K): Promise<TestHook[K]> {
  return page.evaluate((name) => (window as unknown as { __test__: TestHook }).__test__[name], key) as Promise<
    TestHook[K]
  >;
}

/** Wait until the page has set a hook field, clearing it first so an old value does not count. */
export async function nextHookValue<K extends keyof TestHook>(
  page: Page,
  key: K,
  act: () => Promise<void>,
): Promise<NonNullable<TestHook[K]>> {
  await page.evaluate((name) => {
    delete (window as unknown as { __test__: TestHook }).__test__[name];
  }, key);
  await act();
  await page.waitForFunction(
    (name) => (window as unknown as { __test__: TestHook }).__test__[name] !== undefined,
    key,
    {
      timeout: 240_000,
    },
  );
  return (await readHook(page, key)) as NonNullable<TestHook[K]>;
}

export interface GenerateSettings {
  steps?: number;
  batch?: number;
  solver?: 'euler' | 'heun';
  label?: number;
  guidance?: number;
}

/** Fill the Generate form (on the Generate tab) with what is given. */
export async function fillGenerateForm(page: Page, settings: GenerateSettings): Promise<void> {
  await page.getByRole('tab', { name: 'Generate' }).click();
  if (settings.label !== undefined)
    await page.getByLabel('Class', { exact: true }).selectOption(String(settings.label));
  if (settings.guidance !== undefined)
    await page.getByLabel('Guidance scale', { exact: true }).fill(String(settings.guidance));
  if (settings.steps !== undefined) await page.getByLabel('Steps', { exact: true }).fill(String(settings.steps));
  if (settings.solver !== undefined) await page.getByLabel('Solver', { exact: true }).selectOption(settings.solver);
  if (settings.batch !== undefined) await page.getByLabel('Batch size', { exact: true }).fill(String(settings.batch));
}

/** Generate with the form as it is and wait for the float samples. */
export function generateSamples(page: Page): Promise<number[]> {
  return nextHookValue(page, 'samples', () => page.getByRole('button', { name: 'Generate' }).click());
}

/** A CIFAR-10 test image of the project written as PNG (nearest-neighbour resized to `size`, e.g. "45x37"). */
export function testImage(index: number, size?: string): string {
  const path = join(SCRATCH, `test_image_${index}_${size ?? 'own'}.png`);
  const data = join(PROJECT, 'data', 'cifar10', 'test.npz');
  python('web_reference', [
    'image',
    '--data',
    data,
    '--index',
    String(index),
    '--out',
    path,
    ...(size ? ['--size', size] : []),
  ]);
  return path;
}

/** Python ONNX Runtime's probabilities for an image file, preprocessed as the pipeline does. */
export function pythonProbabilities(
  modelFile: string,
  imagePath: string,
): { probabilities: number[]; class_name: string } {
  const out = `${imagePath}.${modelFile}.json`;
  python('web_reference', ['classify', '--model', join(MODELS, modelFile), '--image', imagePath, '--out', out]);
  return JSON.parse(readFileSync(out, 'utf8')) as { probabilities: number[]; class_name: string };
}
