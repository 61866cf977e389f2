/**
 * The app speaks the project's own classes at the project's own image size, whatever the preset:
 * CIFAR-10 at 32 px, or the cat breeds at 64 px. Run against each preset's project.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../src/manifest';
import {
  fillGenerateForm,
  generateSamples,
  launchChromium,
  MODELS,
  nextHookValue,
  openApp,
  PROJECT,
  python,
  pythonProbabilities,
  SCRATCH,
  SCREENSHOTS,
  waitUntilReady,
} from './harness';

const url = inject('appUrl');
let browser: Browser;
let page: Page;
let errors: string[];
let manifest: Manifest;

beforeAll(async () => {
  browser = await launchChromium();
  manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as Manifest;
  ({ page, errors } = await openApp(browser, url));
  await waitUntilReady(page);
});

afterAll(async () => {
  await browser?.close();
});

const entry = (id: string) => manifest.models.find((m) => m.id === id)!;

describe("the project's own classes", () => {
  it('generates the last class, chosen by its name, at the generator’s size and classifies it', async () => {
    const generator = entry('dit');
    const names = generator.class_names;
    await page.getByRole('tab', { name: 'Generate' }).click();
    const offered = await page
      .getByLabel('Class', { exact: true })
      .evaluate((node) => Array.from((node as HTMLSelectElement).options, (option) => option.text));
    expect(offered).toEqual(names);

    const last = names[names.length - 1];
    await page.getByLabel('Class', { exact: true }).selectOption({ label: last });
    await fillGenerateForm(page, { steps: 2, batch: 1 });
    const samples = await generateSamples(page);
    expect(samples).toHaveLength(generator.channels * generator.image_size * generator.image_size);
    await expect.poll(() => page.getByRole('button', { name: `Save ${last} sample 1 as PNG` }).count()).toBe(1);

    const probabilities = await nextHookValue(page, 'probabilities', () =>
      page.getByRole('button', { name: /^Classify .* sample 1$/ }).click(),
    );
    expect(probabilities).toHaveLength(entry('classifier').class_names.length);
    const top = (await page.getByTestId('top-class').textContent())!;
    expect(names.some((name) => top.includes(name))).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, `classes_generated_${names.length}.png`), fullPage: true });
  });

  it("classifies a test image of the project's own data as Python ONNX Runtime does, by class name", async () => {
    const imagePath = join(SCRATCH, 'own_test_image.png');
    const data = join(PROJECT, 'data', 'images', 'test.npz');
    python('web_reference', ['image', '--data', data, '--index', '0', '--out', imagePath]);
    const expected = pythonProbabilities('classifier.onnx', imagePath);
    expect(entry('classifier').class_names).toContain(expected.class_name);

    await page.getByRole('tab', { name: 'Classify' }).click();
    await page.getByLabel('Classifier', { exact: true }).selectOption('classifier');
    const probabilities = await nextHookValue(page, 'probabilities', () =>
      page.getByLabel('Image file', { exact: true }).setInputFiles(imagePath),
    );
    const worst = Math.max(...probabilities.map((p, i) => Math.abs(p - expected.probabilities[i])));
    expect(worst).toBeLessThan(1e-4);
    expect(await page.getByTestId('top-class').textContent()).toContain(expected.class_name);
    await page.screenshot({
      path: join(SCREENSHOTS, `classes_classified_${probabilities.length}.png`),
      fullPage: true,
    });
    expect(errors).toEqual([]);
  });
});
