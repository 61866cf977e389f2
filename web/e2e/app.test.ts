import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest, ModelEntry, Sampling } from '../src/manifest';
import { gaussianNoise, type Solver } from '../src/sampler';
import {
  launchChromium,
  nextHookValue,
  openApp,
  PROJECT,
  MODELS,
  python,
  SCRATCH,
  SCREENSHOTS,
  waitUntilReady,
} from './harness';
import { readNpy, writeNpy } from './npy';

const TEST_IMAGE_INDEX = 7;

const app = { url: inject('appUrl') };
let browser: Browser;
let page: Page;
let consoleErrors: string[];
let requests: string[];
let manifest: Manifest;

beforeAll(async () => {
  browser = await launchChromium();
  manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as Manifest;
  ({ page, errors: consoleErrors, requests } = await openApp(browser, app.url));
  await waitUntilReady(page);
});

afterAll(async () => {
  await browser?.close();
});

const model = (id: string) => {
  const entry = manifest.models.find((m) => m.id === id);
  if (!entry) throw new Error(`the manifest has no ${id}; run \`dvc repro\` in ${PROJECT}`);
  return entry;
};

interface Settings {
  label: number;
  guidance: number;
  steps: number;
  solver: Solver;
  shift?: number;
  interval?: [number, number];
}

/** Seeded noise for `batch` images, and what the pipeline's sampler makes of it through the generator's file. */
function pipelineSamples(generator: ModelEntry, batch: number, settings: Settings) {
  const { label, guidance, steps, solver, shift = 1, interval = [0, 1] } = settings;
  const shape = [batch, generator.channels, generator.image_size, generator.image_size];
  const noise = gaussianNoise(
    1234,
    shape.reduce((a, b) => a * b, 1),
  );
  const name = `${generator.id}_${solver}_${steps}_${shift}`;
  const noisePath = join(SCRATCH, `noise_${name}.npy`);
  const expectedPath = join(SCRATCH, `python_${name}.npy`);
  writeNpy(noisePath, noise, shape);
  python('web_reference', [
    'generate',
    ...['--model', join(MODELS, generator.file), '--noise', noisePath, '--label', String(label)],
    ...['--guidance', String(guidance), '--steps', String(steps), '--solver', solver],
    ...['--time-shift', String(shift), '--guidance-interval', ...interval.map(String)],
    ...['--out', expectedPath],
  ]);
  const expected = readNpy(expectedPath);
  expect(expected.shape).toEqual(shape);
  return { noise, expected };
}

describe('the built app', () => {
  it('runs wasm on two threads in a cross-origin isolated page', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    await expect.poll(() => page.getByTestId('threads').textContent()).toBe(String(Math.min(cores, 4)));
    expect(await page.getByTestId('backend').textContent()).toBe('wasm'); // Chromium runs with --disable-gpu
    // wasm alone loads ONNX Runtime's CPU-only build, not the one compiled for WebGPU calls
    const runtimes = requests.filter((url) => url.endsWith('.wasm')).map((url) => url.split('/').pop());
    expect(runtimes).toEqual(['ort-wasm-simd-threaded.wasm']);
  });

  it.each([
    ['heun', 6],
    ['euler', 8],
  ] as [Solver, number][])(
    'generates what Python ONNX Runtime generates from the same noise (%s, %i steps)',
    async (solver, steps) => {
      const generator = model('dit');
      const batch = 2;
      const label = 3 % generator.class_names.length;
      const guidance = 4;
      const { noise, expected } = pipelineSamples(generator, batch, { label, guidance, steps, solver });

      await page.getByRole('tab', { name: 'Generate' }).click();
      await page.evaluate((values) => {
        (window as unknown as { __test__: { noise: number[] } }).__test__.noise = values;
      }, Array.from(noise));
      await page.getByLabel('Class', { exact: true }).selectOption(String(label));
      await page.getByLabel('Guidance scale', { exact: true }).fill(String(guidance));
      await page.getByLabel('Steps', { exact: true }).fill(String(steps));
      await page.getByLabel('Solver', { exact: true }).selectOption(solver);
      await page.getByLabel('Batch size', { exact: true }).fill(String(batch));
      const samples = await nextHookValue(page, 'samples', () =>
        page.getByRole('button', { name: 'Generate' }).click(),
      );

      expect(samples).toHaveLength(expected.data.length);
      const worst = Math.max(...samples.map((value, i) => Math.abs(value - expected.data[i])));
      console.log(`${solver}: max |browser - python| = ${worst.toExponential(2)} over ${samples.length} values`);
      expect(worst).toBeLessThan(1e-3);
      await expect.poll(() => page.getByText(`step ${steps} / ${steps}`).count()).toBe(1);
      await expect.poll(() => page.getByText('Click an image to classify it.').count()).toBe(1);
      // what a person sees: every finished sample is drawn, no canvas left blank
      const blank = await page.evaluate(() =>
        Array.from(document.querySelectorAll<HTMLCanvasElement>('.gallery canvas')).map((canvas) => {
          const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
          return data.every((value, i) => i % 4 !== 3 || value === 0);
        }),
      );
      expect(blank).toEqual(Array(batch).fill(false));
      await page.screenshot({ path: join(SCREENSHOTS, `generate_${solver}.png`), fullPage: true });
    },
  );

  it("starts from the manifest's sampling record and samples as the pipeline does with it", async () => {
    // The int8 graph, a shifted time grid and guidance over part of the flow: all from the manifest
    const generator = manifest.models.find((m) => m.id === 'dit_int8') ?? model('dit');
    const sampling: Sampling = {
      generator: generator.id,
      solver: 'euler',
      steps: 5,
      guidance_scale: 3,
      guidance_interval: [0.2, 0.9],
      time_shift: 2.5,
      source: 'the test',
    };
    const { page: tuned, errors } = await openApp(browser, 'about:blank');
    await tuned.route('**/models/manifest.json', async (route) =>
      route.fulfill({ response: await route.fetch(), json: { ...manifest, sampling } }),
    );
    await tuned.goto(app.url);
    await waitUntilReady(tuned);
    const field = (name: string) => tuned.getByLabel(name, { exact: true });
    expect(await field('Generator').inputValue()).toBe(generator.id);
    expect(await field('Steps').inputValue()).toBe('5');
    expect(await field('Guidance scale').inputValue()).toBe('3');
    expect(await field('Time shift').inputValue()).toBe('2.5');

    const batch = 2;
    const label = 1;
    const { noise, expected } = pipelineSamples(generator, batch, {
      label,
      guidance: 3,
      steps: 5,
      solver: 'euler',
      shift: 2.5,
      interval: [0.2, 0.9],
    });
    await tuned.evaluate((values) => {
      (window as unknown as { __test__: { noise: number[] } }).__test__.noise = values;
    }, Array.from(noise));
    await field('Class').selectOption(String(label));
    await field('Batch size').fill(String(batch));
    const samples = await nextHookValue(tuned, 'samples', () =>
      tuned.getByRole('button', { name: 'Generate' }).click(),
    );
    const worst = Math.max(...samples.map((value, i) => Math.abs(value - expected.data[i])));
    console.log(
      `${generator.id}, shift 2.5, guided over [0.2, 0.9]: max |browser - python| = ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-3);
    expect(errors).toEqual([]);
    await tuned.close();
  });

  it('classifies a generated image when it is clicked', async () => {
    const probabilities = await nextHookValue(page, 'probabilities', () =>
      page.getByRole('button', { name: /^Classify .* sample 1$/ }).click(),
    );
    expect(await page.getByRole('tab', { name: 'Classify' }).getAttribute('aria-selected')).toBe('true');
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it.each([
    ['resnet8', '32x32'],
    ['resnet8_int8', '32x32'],
    ['resnet8', '45x37'],
  ])('classifies a CIFAR-10 test image as Python ONNX Runtime does (%s, image %s)', async (id, size) => {
    const classifier = model(id);
    const imagePath = join(SCRATCH, `test_image_${id}_${size}.png`);
    const expectedPath = join(SCRATCH, `python_${id}_${size}.json`);
    const data = join(PROJECT, 'data', 'cifar10', 'test.npz');
    const imageArgs = [
      'image',
      '--data',
      data,
      '--index',
      String(TEST_IMAGE_INDEX),
      '--size',
      size,
      '--out',
      imagePath,
    ];
    const truth = JSON.parse(python('web_reference', imageArgs)) as { class_name: string };
    python('web_reference', [
      'classify',
      '--model',
      join(MODELS, classifier.file),
      '--image',
      imagePath,
      '--out',
      expectedPath,
    ]);
    const expected = JSON.parse(readFileSync(expectedPath, 'utf8')) as { probabilities: number[]; class_name: string };

    await page.getByRole('tab', { name: 'Classify' }).click();
    await page.getByLabel('Classifier', { exact: true }).selectOption(id);
    // a switch reclassifies the image already shown: let that land before the new image goes in
    await page.waitForFunction(
      (wanted) => (window as unknown as { __test__: { classifier?: string } }).__test__.classifier === wanted,
      id,
    );
    const probabilities = await nextHookValue(page, 'probabilities', () =>
      page.getByLabel('Image file', { exact: true }).setInputFiles(imagePath),
    );
    expect(
      await page.evaluate(() => (window as unknown as { __test__: { classifier: string } }).__test__.classifier),
    ).toBe(id);

    const worst = Math.max(...probabilities.map((p, i) => Math.abs(p - expected.probabilities[i])));
    console.log(
      `${id}, ${size}: top-1 ${expected.class_name} (label ${truth.class_name}); max |browser - python| = ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-4);
    expect(await page.getByTestId('top-class').textContent()).toContain(expected.class_name);
    await page.screenshot({ path: join(SCREENSHOTS, `classify_${id}_${size}.png`), fullPage: true });
  });

  it('logged no console errors along the way', () => {
    expect(consoleErrors).toEqual([]);
  });
});

describe('when models are missing or stale', () => {
  /** Open the app with the manifest rewritten, and return the text of its alerts. */
  async function alertsWith(rewrite: (manifest: Manifest) => Manifest | null, screenshot?: string): Promise<string> {
    const { page: broken } = await openApp(browser, 'about:blank');
    await broken.route('**/models/manifest.json', async (route) => {
      const changed = rewrite(structuredClone(manifest));
      if (changed === null) return route.fulfill({ status: 404, body: 'not found' });
      return route.fulfill({ response: await route.fetch(), json: changed });
    });
    await broken.goto(app.url);
    await broken.getByRole('alert').first().waitFor({ timeout: 60_000 });
    const text = (await broken.getByRole('alert').allTextContents()).join('\n');
    if (screenshot) {
      await waitUntilReady(broken);
      await broken.screenshot({ path: join(SCREENSHOTS, screenshot), fullPage: true });
    }
    await broken.close();
    return text;
  }

  it('names a model file that is not there and says how to make it', async () => {
    const text = await alertsWith(
      (m) => ({ models: m.models.map((e) => (e.id === 'resnet8_int8' ? { ...e, file: 'resnet8_gone.onnx' } : e)) }),
      'missing_model.png',
    );
    expect(text).toContain('models/resnet8_gone.onnx is missing');
    expect(text).toContain('run `dvc repro` first, then `npm run models`');
  });

  it('calls a model that does not match its checksum stale', async () => {
    const text = await alertsWith((m) => ({
      models: m.models.map((e) => (e.id === 'resnet8' ? { ...e, sha256: '0'.repeat(64) } : e)),
    }));
    expect(text).toContain('models/resnet8.onnx does not match the manifest');
    expect(text).toContain('run `dvc repro` first, then `npm run models`');
  });

  it('says no models are bundled when there is no manifest', async () => {
    const text = await alertsWith(() => null);
    expect(text).toContain(
      'models/manifest.json was not found (HTTP 404): no models are bundled; run `dvc repro` first, then `npm run models`',
    );
  });
});
