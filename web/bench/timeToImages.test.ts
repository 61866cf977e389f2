/**
 * Time to images, where a person waits: four images at the app's default sampling (the manifest's
 * record: generator, steps, time shift) against the pipeline's own sampling (the fp32 generator
 * at the steps reports/app_sampling.json judged as its reference), taking turns run by run in one page of the built app on this machine.
 * Each run is timed from the click on Generate to the last image, as the page sees it.
 * Writes bench/time_to_images.json and .md.
 *
 *     npm run bench:images     (BENCH_ROUNDS changes the default of 10 runs each)
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { Manifest, Sampling } from '../src/manifest';
import { launchChromium, MODELS, openApp, waitUntilReady, WEB } from '../e2e/harness';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const BATCH = 4;

let browser: Browser;
const app = inject('appUrl');

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

interface Setting {
  name: string;
  generator: string;
  steps: number;
  shift: number;
}

/** Milliseconds from the click on Generate to the samples, with the form set as `setting` says. */
async function timedRun(page: Page, setting: Setting): Promise<number> {
  await page.getByLabel('Generator', { exact: true }).selectOption(setting.generator);
  await page.getByLabel('Steps', { exact: true }).fill(String(setting.steps));
  await page.getByLabel('Time shift', { exact: true }).fill(String(setting.shift));
  await page.getByLabel('Batch size', { exact: true }).fill(String(BATCH));
  // The Generate button, not the Generate tab: the first element whose role is button and name Generate
  const button = await page.getByRole('button', { name: 'Generate', exact: true }).elementHandle();
  return page.evaluate(
    (generate) =>
      new Promise<number>((resolve) => {
        const hook = (window as unknown as { __test__: { samples?: number[] } }).__test__;
        delete hook.samples;
        const start = performance.now();
        (generate as HTMLButtonElement).click();
        const poll = () => (hook.samples ? resolve(performance.now() - start) : setTimeout(poll, 1));
        poll();
      }),
    button,
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

it(`times ${BATCH} images at the app's default sampling against the pipeline's`, async () => {
  const manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as Manifest;
  const sampling = manifest.sampling as Sampling;
  // The reference the app's default was judged against: the fp32 generator as the pipeline samples it
  const report = JSON.parse(readFileSync(join(WEB, '..', 'reports', 'app_sampling.json'), 'utf8'));
  const pipelineSteps = report.reference.steps as number;
  const settings: Setting[] = [
    { name: "the app's default", generator: sampling.generator, steps: sampling.steps, shift: sampling.time_shift },
    { name: "the pipeline's sampling", generator: 'dit', steps: pipelineSteps, shift: 1 },
  ];
  const { page, errors } = await openApp(browser, app);
  await waitUntilReady(page);
  await page.getByRole('tab', { name: 'Generate' }).click();
  for (const setting of settings) await timedRun(page, setting); // warm-up: sessions for the batch
  const times: number[][] = settings.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, setting] of settings.entries()) times[index].push(await timedRun(page, setting));
  }
  expect(errors).toEqual([]);
  const threads = await page.getByTestId('threads').textContent();
  await page.close();

  const rows = settings.map((setting, index) => ({
    ...setting,
    median_ms: median(times[index]),
    runs_ms: times[index],
  }));
  const results = {
    batch: BATCH,
    rounds: ROUNDS,
    source: sampling.source,
    machine: {
      cpu: cpus()[0].model,
      threads: cpus().length,
      load_average_1min: loadavg()[0],
      chromium: browser.version(),
    },
    wasm_threads: Number(threads),
    rows,
    speedup: rows[1].median_ms / rows[0].median_ms,
  };
  const lines = [
    `${BATCH} images, ${ROUNDS} runs of each setting taking turns in one page; from the click on Generate to the last ` +
      `image. The app's default comes from ${sampling.source}.`,
    '',
    `Machine: ${results.machine.cpu}, ${results.machine.threads} threads (load average ${results.machine.load_average_1min.toFixed(1)} ` +
      `at the end); Chromium ${results.machine.chromium} headless, wasm on ${results.wasm_threads} threads.`,
    '',
    '| setting | generator | steps | time shift | median s | runs s |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.generator} | ${r.steps} | ${r.shift} | ${(r.median_ms / 1000).toFixed(3)} | ` +
        `${r.runs_ms.map((ms) => (ms / 1000).toFixed(2)).join(', ')} |`,
    ),
    '',
    `The app's default is ${results.speedup.toFixed(2)}× as fast as the pipeline's sampling here.`,
  ];
  writeFileSync(join(WEB, 'bench', 'time_to_images.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(WEB, 'bench', 'time_to_images.md'), lines.join('\n') + '\n');
  console.log(lines.join('\n'));
});
