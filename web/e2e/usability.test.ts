/**
 * The app as its users meet it: Stop, a huge or broken image, a phone's width, the keyboard alone,
 * number fields, and saving images. Each test drives the built app in Chromium as a person would.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gaussianNoise, toPixels } from '../src/sampler';
import {
  fillGenerateForm,
  generateSamples,
  launchChromium,
  nextHookValue,
  openApp,
  PYTHON,
  pythonProbabilities,
  SCRATCH,
  SCREENSHOTS,
  testImage,
  waitUntilReady,
} from './harness';

const url = inject('appUrl');
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

async function readyPage(
  viewport?: { width: number; height: number },
  device?: Parameters<typeof openApp>[3],
): Promise<{ page: Page; errors: string[] }> {
  const opened = await openApp(browser, url, viewport, device);
  await waitUntilReady(opened.page);
  return opened;
}

/** What the page's busy line, status and alerts say. */
const messages = (page: Page) =>
  page.evaluate(() =>
    Array.from(document.querySelectorAll('[role=status], [role=alert]'), (node) => node.textContent ?? '').join('\n'),
  );

describe('Stop', () => {
  it.each([
    ['a cross-origin isolated page (the stop flag in shared memory)', true],
    ['a page served without isolation headers (the stop message read between steps)', false],
  ])('ends a run within one step and says at which step it stopped, in %s', async (_, isolated) => {
    const { page, errors } = await openApp(browser, 'about:blank');
    if (!isolated) {
      // The document without COOP/COEP: no SharedArrayBuffer, one wasm thread
      await page.route(url, async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers['cross-origin-opener-policy'];
        delete headers['cross-origin-embedder-policy'];
        await route.fulfill({ response, headers });
      });
    }
    await page.goto(url);
    await waitUntilReady(page);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(isolated);
    await fillGenerateForm(page, { steps: 200, solver: 'heun', batch: 32 });
    // The moment of the click and the step shown then, recorded in the page at the click itself
    await page.evaluate(() => {
      document.addEventListener(
        'click',
        (event) => {
          if ((event.target as HTMLElement).textContent === 'Stop') {
            const at = window as unknown as { stopClickedAt: number; shownAtStop: number };
            at.stopClickedAt = performance.timeOrigin + performance.now();
            at.shownAtStop = document.querySelector('progress')!.value;
          }
        },
        { capture: true },
      );
    });
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForFunction(() => (document.querySelector('progress')?.value ?? 0) >= 3);
    await page.getByRole('button', { name: 'Stop' }).click();

    const status = page.getByRole('status').filter({ hasText: /^Stopped at step \d+ of 200$/ });
    await status.waitFor({ timeout: 60_000 });
    const stoppedAt = Number((await status.textContent())!.match(/step (\d+)/)![1]);
    const { clickedAt, shown, finishedAt } = await page.evaluate(() => {
      const at = window as unknown as {
        stopClickedAt: number;
        shownAtStop: number;
        __test__: { stepsFinishedAt: number[] };
      };
      return { clickedAt: at.stopClickedAt, shown: at.shownAtStop, finishedAt: at.__test__.stepsFinishedAt };
    });
    const afterClick = finishedAt.filter((time) => time > clickedAt).length;
    console.log(
      `Stop clicked while step ${shown} of 200 was shown; ${afterClick} step(s) finished after the click; ` +
        `stopped at step ${stoppedAt}`,
    );
    // The worker finishes the step it is computing, and no other
    expect(afterClick).toBeLessThanOrEqual(1);
    expect(finishedAt).toHaveLength(stoppedAt);
    expect(stoppedAt).toBeLessThan(200);
    expect(await page.locator('progress').evaluate((bar: HTMLProgressElement) => bar.value)).toBe(stoppedAt);
    await expect.poll(() => page.getByRole('button', { name: 'Generate' }).isEnabled()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('images to classify', () => {
  it('reads a 6000×6000 PNG off the main thread with a busy sign, the page answering within 100 ms', async () => {
    const { page, errors } = await readyPage();
    const huge = testImage(7, '6000x6000');
    const expected = pythonProbabilities('resnet8.onnx', huge);
    await page.getByRole('tab', { name: 'Classify' }).click();
    await page.getByLabel('Classifier', { exact: true }).selectOption('resnet8');
    // Long tasks: anything that holds the main thread for 50 ms or more
    await page.evaluate(() => {
      const record: number[] = [];
      (window as unknown as { longTasks: number[] }).longTasks = record;
      new PerformanceObserver((list) => record.push(...list.getEntries().map((entry) => entry.duration))).observe({
        type: 'longtask',
      });
      delete (window as unknown as { __test__: { probabilities?: number[] } }).__test__.probabilities;
    });

    const chosen = performance.now();
    await page.getByLabel('Image file', { exact: true }).setInputFiles(huge);
    const roundTrips: number[] = [];
    const busyTexts = new Set<string>();
    for (let done = false; !done;) {
      const start = performance.now();
      const probe = await page.evaluate(() => ({
        busy: document.querySelector('.busy')?.textContent ?? '',
        done: (window as unknown as { __test__: { probabilities?: number[] } }).__test__.probabilities !== undefined,
      }));
      roundTrips.push(performance.now() - start);
      if (probe.busy) busyTexts.add(probe.busy);
      done = probe.done;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const classifiedSeconds = (performance.now() - chosen) / 1000;
    const longTasks = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
    const probabilities = await page.evaluate(
      () => (window as unknown as { __test__: { probabilities: number[] } }).__test__.probabilities,
    );
    const slowest = Math.max(...roundTrips);
    console.log(
      `6000×6000 PNG classified in ${classifiedSeconds.toFixed(1)} s; ` +
        `${roundTrips.length} round trips into the page meanwhile, ` +
        `slowest ${[...roundTrips]
          .sort((a, b) => b - a)
          .slice(0, 5)
          .map((ms) => ms.toFixed(0))
          .join(', ')} ms, median ${[...roundTrips].sort((a, b) => a - b)[roundTrips.length >> 1].toFixed(1)} ms; ` +
        `main-thread long tasks: ${longTasks.length ? longTasks.map((ms) => ms.toFixed(0)).join(', ') + ' ms' : 'none'}`,
    );
    expect([...busyTexts].some((text) => text.includes('Reading test_image_7_6000x6000.png'))).toBe(true);
    expect(roundTrips.length).toBeGreaterThan(3);
    expect(slowest).toBeLessThan(100);
    expect(Math.max(0, ...longTasks)).toBeLessThan(100);
    const worst = Math.max(...probabilities.map((p, i) => Math.abs(p - expected.probabilities[i])));
    expect(worst).toBeLessThan(1e-4);
    expect(await page.getByTestId('top-class').textContent()).toContain(expected.class_name);
    expect(await page.getByText('test_image_7_6000x6000.png (6000×6000)').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'classify_6000x6000.png') });
    await page.close();
  });

  it('names a file that is not an image, and one too large to read', async () => {
    const { page } = await readyPage();
    await page.getByRole('tab', { name: 'Classify' }).click();
    const input = page.getByLabel('Image file', { exact: true });
    await input.setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') });
    await page.getByRole('alert').filter({ hasText: 'notes.png' }).waitFor();
    expect(await messages(page)).toContain(
      'notes.png is not an image this browser can decode (PNG, JPEG, GIF, WebP or BMP)',
    );
    // A real PNG header that states 60000×60000: refused before anything is decoded
    const header = Buffer.from(readFileSync(testImage(7)));
    header.writeUInt32BE(60000, 16);
    header.writeUInt32BE(60000, 20);
    await input.setInputFiles({ name: 'bomb.png', mimeType: 'image/png', buffer: header });
    await page.getByRole('alert').filter({ hasText: 'bomb.png' }).waitFor();
    expect(await messages(page)).toContain(
      'bomb.png is 60000×60000 (3600.0 megapixels); images up to 50 megapixels are read',
    );
    await page.close();
  });
});

describe('on a phone', () => {
  it('fits 390 px with no sideways scroll, panels, controls and bars inside the screen', async () => {
    // As a phone shows it: mobile viewport rules, touch and a 3x screen, not a narrow desktop window
    const { page } = await readyPage(
      { width: 390, height: 844 },
      { isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
    );
    const overflow = () =>
      page.evaluate(() => {
        const width = innerWidth;
        const shown = 'button, input, select, .bar-cell, .workspace, aside, .table-scroll';
        const outside = Array.from(document.querySelectorAll<HTMLElement>(shown))
          .filter((node) => node.offsetParent !== null && !node.classList.contains('visually-hidden'))
          .filter((node) => {
            const box = node.getBoundingClientRect();
            return box.left < 0 || box.right > width;
          })
          .map((node) => node.getAttribute('aria-label') ?? node.textContent ?? node.tagName);
        return { scrollWidth: document.scrollingElement!.scrollWidth, width, outside };
      });
    await fillGenerateForm(page, { steps: 2, batch: 4 });
    await generateSamples(page);
    expect(await overflow()).toEqual({ scrollWidth: 390, width: 390, outside: [] });
    await page.screenshot({ path: join(SCREENSHOTS, 'phone_generate.png'), fullPage: true });

    await nextHookValue(page, 'probabilities', () =>
      page.getByRole('button', { name: /^Classify .* sample 1$/ }).click(),
    );
    expect(await overflow()).toEqual({ scrollWidth: 390, width: 390, outside: [] });
    const bars = await page
      .locator('.bar-cell')
      .evaluateAll((cells) => cells.map((cell) => Math.round(cell.getBoundingClientRect().width)));
    expect(Math.min(...bars)).toBeGreaterThanOrEqual(100); // room for a bar, not a sliver
    await page.screenshot({ path: join(SCREENSHOTS, 'phone_classify.png'), fullPage: true });
    await page.close();
  });
});

describe('by keyboard alone', () => {
  /** The focused element as "role:name", e.g. "button:Generate" or "input:Steps". */
  const focused = (page: Page) =>
    page.evaluate(() => {
      const node = document.activeElement as HTMLElement & { labels?: NodeListOf<HTMLLabelElement> };
      const name = node.getAttribute('aria-label') || node.labels?.[0]?.textContent || node.textContent?.trim();
      return `${node.getAttribute('role') ?? node.tagName.toLowerCase()}:${name}`;
    });

  /** Every visible, enabled control of the page, named as `focused` names them. */
  const controls = (page: Page) =>
    page.evaluate(() =>
      Array.from(
        document.querySelectorAll<HTMLElement & { labels?: NodeListOf<HTMLLabelElement> }>('button, input, select'),
      )
        .filter((node) => !(node as HTMLButtonElement).disabled && node.closest('[hidden]') === null)
        // tabs take one stop in the tab order, the selected one; arrow keys reach the others
        .filter((node) => node.getAttribute('role') !== 'tab' || node.getAttribute('aria-selected') === 'true')
        .map((node) => {
          const name = node.getAttribute('aria-label') || node.labels?.[0]?.textContent || node.textContent?.trim();
          return `${node.getAttribute('role') ?? node.tagName.toLowerCase()}:${name}`;
        }),
    );

  /** Press Tab until `wanted` has focus; the names of everything reached on the way. */
  async function tabUntil(page: Page, wanted: string): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      seen.push(await focused(page));
      if (seen.at(-1) === wanted) return seen;
    }
    throw new Error(`Tab never reached ${wanted}; it reached ${seen.join(', ')}`);
  }

  /** From the selected tab, Tab through the page; the controls Tab never reached. */
  async function unreached(page: Page): Promise<string[]> {
    const all = await controls(page);
    await page.getByRole('tab', { selected: true }).focus();
    const seen = [await focused(page), ...(await tabUntil(page, all.at(-1)!))];
    return all.filter((name) => !seen.includes(name));
  }

  it('reaches every control, chooses a file, and keeps focus where the user acts', async () => {
    const { page } = await readyPage();
    await fillGenerateForm(page, { steps: 3, batch: 2 });

    // Generate by keyboard: focus stays on the button through Generate, Stop and Generate again
    await page.getByRole('tab', { name: 'Generate' }).focus();
    await tabUntil(page, 'button:Generate');
    await nextHookValue(page, 'samples', () => page.keyboard.press('Enter'));
    await expect.poll(() => focused(page)).toBe('button:Generate');
    expect(await unreached(page)).toEqual([]);

    // Classify a generated image by keyboard: its button is hidden then, so focus goes to the Classify panel
    await page.getByRole('button', { name: /^Classify .* sample 1$/ }).focus();
    await nextHookValue(page, 'probabilities', () => page.keyboard.press('Enter'));
    expect(await page.evaluate(() => document.activeElement?.closest('[role=tabpanel]')?.id)).toBe('panel-classify');

    // Tabs and panels are wired to each other; arrow keys move between tabs
    const wiring = await page.evaluate(() =>
      Array.from(document.querySelectorAll('[role=tab]'), (tab) => {
        const panel = document.getElementById(tab.getAttribute('aria-controls')!);
        return [tab.textContent, panel?.getAttribute('role'), panel?.getAttribute('aria-labelledby') === tab.id];
      }),
    );
    expect(wiring).toEqual([
      ['Generate', 'tabpanel', true],
      ['Classify', 'tabpanel', true],
    ]);
    await page.getByRole('tab', { name: 'Classify' }).focus();
    await page.keyboard.press('ArrowLeft');
    expect(await page.getByRole('tab', { name: 'Generate' }).getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('ArrowRight');
    expect(await focused(page)).toBe('tab:Classify');

    // The file chooser: reached with Tab, opened with Enter; focus is back on it afterwards
    const chooser = page.waitForEvent('filechooser');
    await tabUntil(page, 'input:Image file');
    await page.keyboard.press('Enter');
    const probabilities = await nextHookValue(page, 'probabilities', async () =>
      (await chooser).setFiles(testImage(7)),
    );
    expect(probabilities).toHaveLength(10);
    expect(await focused(page)).toBe('input:Image file');

    // A classifier chosen with the arrow keys classifies the image again
    await page.getByLabel('Classifier', { exact: true }).focus();
    await nextHookValue(page, 'probabilities', () => page.keyboard.press('ArrowDown'));
    expect(
      await page.evaluate(() => (window as unknown as { __test__: { classifier: string } }).__test__.classifier),
    ).toBe(await page.getByLabel('Classifier', { exact: true }).inputValue());
    expect(await unreached(page)).toEqual([]);
    await page.close();
  });
});

describe('number fields', () => {
  it('keep what is typed, refuse what is out of range, and never generate with a wrong value', async () => {
    const { page } = await readyPage();
    const field = (label: string) => page.getByLabel(label, { exact: true });
    const generate = page.getByRole('button', { name: 'Generate' });

    await field('Guidance scale').fill('');
    expect(await field('Guidance scale').inputValue()).toBe('');
    expect(await page.locator('.field-error').allTextContents()).toEqual([
      'Enter guidance scale: a number from 0 to 20.',
    ]);
    expect(await generate.isDisabled()).toBe(true);
    await field('Guidance scale').pressSequentially('7.5');
    expect(await field('Guidance scale').inputValue()).toBe('7.5');

    await field('Steps').fill('');
    await field('Steps').pressSequentially('40');
    expect(await field('Steps').inputValue()).toBe('40');
    expect(await page.locator('.field-error').count()).toBe(0);
    expect(await generate.isEnabled()).toBe(true);

    await field('Seed').fill('-5');
    expect(await field('Seed').inputValue()).toBe('-5');
    expect(await page.locator('.field-error').allTextContents()).toEqual([
      'Seed must be a whole number from 0 to 4294967295; -5 is out of range.',
    ]);
    expect(await field('Seed').getAttribute('aria-invalid')).toBe('true');
    expect(await generate.isDisabled()).toBe(true);
    await field('Seed').fill('5');

    await field('Steps').fill('500');
    expect(await page.locator('.field-error').allTextContents()).toEqual([
      'Steps must be a whole number from 1 to 200; 500 is out of range.',
    ]);
    expect(await generate.isDisabled()).toBe(true);
    await field('Steps').press('Enter'); // a form's implicit submission must not generate either
    await page.waitForTimeout(300);
    expect(await page.locator('progress').count()).toBe(0);

    await field('Steps').fill('2');
    await field('Batch size').fill('1');
    expect(await generate.isEnabled()).toBe(true);
    const samples = await generateSamples(page);
    expect(samples).toHaveLength(3 * 32 * 32);
    await page.close();
  });
});

describe('saving images', () => {
  /** The PNG's size and its RGB bytes, as Pillow reads them. */
  function readPng(path: string): { width: number; height: number; pixels: number[] } {
    const script =
      'import json, sys; from PIL import Image; im = Image.open(sys.argv[1]); ' +
      'opaque = im.mode == "RGB" or im.getchannel("A").getextrema() == (255, 255); ' +
      'print(json.dumps({"format": im.format, "opaque": opaque, "width": im.width, "height": im.height, ' +
      '"pixels": list(im.convert("RGB").tobytes())}))';
    const read = JSON.parse(execFileSync(PYTHON, ['-c', script, path], { encoding: 'utf8', maxBuffer: 1 << 26 }));
    expect([read.format, read.opaque]).toEqual(['PNG', true]);
    return read;
  }

  it.each([1, 8])('downloads a generated image as a PNG at %i× its size, pixel for pixel', async (scale) => {
    const { page } = await readyPage();
    const noise = gaussianNoise(99, 2 * 3 * 32 * 32);
    await page.evaluate((values) => {
      (window as unknown as { __test__: { noise: number[] } }).__test__.noise = values;
    }, Array.from(noise));
    await fillGenerateForm(page, { steps: 3, batch: 2, label: 4 });
    const samples = await generateSamples(page);
    const expected = toPixels(Float32Array.from(samples), [2, 3, 32, 32], [-1, 1])[1];

    await page.getByLabel('PNG size').selectOption(String(scale));
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: /^Save .* sample 2 as PNG$/ }).click();
    const file = join(SCRATCH, `saved_${scale}.png`);
    await (await download).saveAs(file);
    expect((await download).suggestedFilename()).toMatch(new RegExp(`-2-${32 * scale}px\\.png$`));

    const png = readPng(file);
    expect([png.width, png.height]).toEqual([32 * scale, 32 * scale]);
    // every scale × scale block is the generated pixel, exactly
    const mismatches = png.pixels.filter((value, i) => {
      const pixel = Math.floor(i / 3);
      const [x, y] = [pixel % (32 * scale), Math.floor(pixel / (32 * scale))];
      return value !== expected[(Math.floor(y / scale) * 32 + Math.floor(x / scale)) * 3 + (i % 3)];
    });
    expect(mismatches).toHaveLength(0);
    await page.close();
  });
});
