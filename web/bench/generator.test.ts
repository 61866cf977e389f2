/**
 * Per-step latency of the generator in the browser (wasm, 1 and 2 threads) against Python ONNX
 * Runtime on the same model, batch and machine. Browser and Python take turns in every round, so
 * a busy machine slows both alike; medians are reported, and the ratio is browser / Python.
 *
 *     npm run bench            (BENCH_BATCH, BENCH_STEPS, BENCH_ROUNDS change the defaults)
 */

import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  launchChromium,
  nextHookValue,
  openApp,
  python,
  serveBuiltApp,
  waitUntilReady,
  WEB,
  type App,
} from '../e2e/harness';

const BATCH = Number(process.env.BENCH_BATCH ?? 4);
const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THREADS = [1, 2];
const MODEL = join(WEB, 'public', 'models', 'dit.onnx');

let app: App;
let browser: Browser;

beforeAll(async () => {
  app = await serveBuiltApp();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** Median milliseconds of one velocity evaluation over one Euler run of STEPS steps. */
async function browserStepMs(page: Page): Promise<number> {
  const times = await nextHookValue(page, 'evaluationMs', () => page.getByRole('button', { name: 'Generate' }).click());
  return median(times.slice(1)); // the first evaluation of a run pays for allocation
}

function pythonStepMs(threads: number): number {
  const out = python('reference.py', [
    'time',
    '--model',
    MODEL,
    '--batch',
    String(BATCH),
    '--threads',
    String(threads),
    '--repeats',
    String(STEPS),
  ]);
  return (JSON.parse(out) as { median_ms: number }).median_ms;
}

async function openPage(threads: number): Promise<Page> {
  const { page, errors } = await openApp(browser, `${app.url}?backend=wasm&threads=${threads}`);
  await waitUntilReady(page);
  if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join('; ')}`);
  expect(await page.getByTestId('threads').textContent()).toBe(String(threads));
  await page.getByLabel('Steps', { exact: true }).fill(String(STEPS));
  await page.getByLabel('Solver', { exact: true }).selectOption('euler');
  await page.getByLabel('Batch size', { exact: true }).fill(String(BATCH));
  await browserStepMs(page); // warm-up
  return page;
}

it(`times one guided velocity evaluation at batch ${BATCH}: browser wasm vs Python ONNX Runtime`, async () => {
  const pages = new Map<number, Page>();
  for (const threads of THREADS) pages.set(threads, await openPage(threads));
  const samples = new Map(THREADS.map((threads) => [threads, { browser: [] as number[], python: [] as number[] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const threads of THREADS) {
      samples.get(threads)!.browser.push(await browserStepMs(pages.get(threads)!));
      samples.get(threads)!.python.push(pythonStepMs(threads));
    }
  }
  const rows = THREADS.map((threads) => {
    const { browser: b, python: p } = samples.get(threads)!;
    return { threads, browser: median(b), python: median(p), ratio: median(b) / median(p) };
  });
  const lines = [
    `generator per-step latency, batch ${BATCH}, Euler ${STEPS} steps, ${ROUNDS} rounds (medians)`,
    'threads | browser wasm ms | Python ORT ms | browser / Python',
    ...rows.map(
      (r) =>
        `${String(r.threads).padStart(7)} | ${r.browser.toFixed(2).padStart(15)} | ${r.python.toFixed(2).padStart(13)} | ${r.ratio.toFixed(2).padStart(15)}x`,
    ),
  ];
  console.log(lines.join('\n'));
  for (const row of rows) expect(row.ratio).toBeGreaterThan(0);
});
