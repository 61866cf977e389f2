/**
 * How models reach the page: kept in Cache Storage by sha256 across reloads (never a stale or
 * corrupted copy), and every classifier of the manifest offered by family, logits included.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../src/manifest';
import {
  launchChromium,
  MODELS,
  nextHookValue,
  openApp,
  pythonProbabilities,
  SCREENSHOTS,
  testImage,
  waitUntilReady,
} from './harness';

const url = inject('appUrl');
let browser: Browser;
let manifest: Manifest;

beforeAll(async () => {
  browser = await launchChromium();
  manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as Manifest;
});

afterAll(async () => {
  await browser?.close();
});

/** Model files the page requested from the network since the last call. */
function onnxRequests(page: Page): () => string[] {
  let seen: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('.onnx')) seen.push(new URL(request.url()).pathname.split('/').pop()!);
  });
  return () => {
    const taken = seen;
    seen = [];
    return taken.sort();
  };
}

/** Seconds from navigation to ready, as the dashboard states them. */
async function readySeconds(page: Page): Promise<number> {
  await waitUntilReady(page);
  return Number((await page.getByTestId('ready-time').textContent())!.replace(' s', ''));
}

const readColumn = (page: Page, id: string) => page.getByTestId(`model-${id}`).locator('td').nth(2).textContent();

describe('the model cache', () => {
  it('serves a reload from Cache Storage, with no model downloaded again', async () => {
    const { page, errors } = await openApp(browser, url);
    const requests = onnxRequests(page);
    const first = await readySeconds(page);
    const files = manifest.models.map((entry) => entry.file).sort();
    expect(requests()).toEqual(files);

    const reloads: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.reload();
      reloads.push(await readySeconds(page));
      expect(requests()).toEqual([]);
      for (const entry of manifest.models) expect(await readColumn(page, entry.id)).toContain('(cache)');
    }
    console.log(
      `ready after the first load ${first.toFixed(2)} s; after reloads ${reloads.map((s) => s.toFixed(2)).join(', ')} s`,
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fetches a model anew when its sha256 changed, and discards a cached copy that fails its checksum', async () => {
    const { page, errors } = await openApp(browser, url);
    const requests = onnxRequests(page);
    await waitUntilReady(page);
    requests();

    // A new resnet8.onnx (here: the int8 file's bytes) under a new sha256: the old copy must not be used
    const replacement = readFileSync(join(MODELS, 'resnet8_int8.onnx'));
    const changed = structuredClone(manifest);
    Object.assign(
      changed.models.find((entry) => entry.id === 'resnet8')!,
      {
        bytes: replacement.length,
        sha256: createHash('sha256').update(replacement).digest('hex'),
      },
    );
    await page.route('**/models/manifest.json', (route) => route.fulfill({ json: changed }));
    await page.route('**/models/resnet8.onnx', (route) => route.fulfill({ body: replacement }));
    await page.reload();
    await waitUntilReady(page);
    expect(requests()).toEqual(['resnet8.onnx']);
    expect(await readColumn(page, 'resnet8')).not.toContain('(cache)');

    // Corrupt the cached copy of resnet8_int8.onnx: the next load must drop it and download the file
    const entry = manifest.models.find((m) => m.id === 'resnet8_int8')!;
    await page.evaluate(async (file) => {
      const cache = await caches.open('tinydit-models');
      const key = (await cache.keys()).find((request) => request.url.includes(file))!;
      await cache.put(key, new Response(new Uint8Array(1000)));
    }, entry.file);
    await page.reload();
    await waitUntilReady(page);
    expect(requests()).toEqual(['resnet8_int8.onnx']);
    expect(await page.getByText('the cached copy failed its checksum and was replaced').count()).toBe(1);
    const stored = await page.evaluate(async (file) => {
      const cache = await caches.open('tinydit-models');
      const key = (await cache.keys()).find((request) => request.url.includes(file))!;
      const bytes = await (await cache.match(key))!.arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    }, entry.file);
    expect(stored).toBe(entry.sha256);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('classifier families', () => {
  it('lists every classifier by family, the trained one the default, and reads its logits through a softmax', async () => {
    const { page, errors } = await openApp(browser, url);
    await waitUntilReady(page);
    await page.getByRole('tab', { name: 'Classify' }).click();

    const select = page.getByLabel('Classifier', { exact: true });
    const groups = await select.evaluate((node) =>
      Array.from(node.querySelectorAll('optgroup'), (group) => [
        group.label,
        Array.from(group.querySelectorAll('option'), (option) => option.value),
      ]),
    );
    const family = (name: string) => manifest.models.filter((entry) => entry.family === name).map((entry) => entry.id);
    expect(groups).toEqual([
      ['trained classifier', family('trained classifier')],
      ['converted ResNet-8', family('converted ResNet-8')],
    ]);
    expect(family('trained classifier')[0]).toBe('classifier');
    expect(await select.inputValue()).toBe('classifier');

    const image = testImage(7);
    const expected = pythonProbabilities('classifier.onnx', image); // Python takes the softmax too
    const probabilities = await nextHookValue(page, 'probabilities', () =>
      page.getByLabel('Image file', { exact: true }).setInputFiles(image),
    );
    expect(
      await page.evaluate(() => (window as unknown as { __test__: { classifier: string } }).__test__.classifier),
    ).toBe('classifier');
    const worst = Math.max(...probabilities.map((p, i) => Math.abs(p - expected.probabilities[i])));
    console.log(`trained classifier (logits, softmax in the app) vs Python: max diff ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    expect(await page.getByTestId('top-class').textContent()).toContain(expected.class_name);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'classifier_families.png'), fullPage: true });
    await page.close();
  });
});
