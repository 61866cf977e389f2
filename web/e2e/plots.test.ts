/**
 * The review plots offline: the pages `dvc plots show` and `dvc plots diff` write for a copy of the
 * pipeline project, opened from disk in Chromium with every request that is not a file refused.
 * Every chart must draw its data, with no console error, and the diff's charts must show both
 * revisions. DVC's default page, the control, draws none of them offline: the checks can fail.
 */

import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, PROJECT, PYTHON, SCREENSHOTS } from './harness';

/** A plot file the copy changes in its workspace, so that the diff has two revisions to show. */
const CHANGED_PLOT = join('plots', 'train_dit', 'loss.csv');

interface Chart {
  canvas: boolean;
  inkedPixels: number; // pixels of the canvas that are neither transparent nor near white
  dataItems: number; // items of the marks that draw data (not axes, legends or titles)
  texts: string[]; // every text the chart draws: titles, labels, legends, facet headers
}

interface Rendered {
  charts: Chart[]; // one per vega plot on the page, drawn or not
  embedded: number; // vegaEmbed calls that finished
  images: number;
  loadedImages: number;
  errors: string[];
  refused: string[]; // requests for anything but a file
}

let browser: Browser;
let work: string;
let copy: string;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', maxBuffer: 1 << 28 }); // JSON holds every row
}

const dvc = (...args: string[]) => run(PYTHON, ['-m', 'dvc', ...args], copy);
const git = (...args: string[]) =>
  run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], copy);

/** The ids of the plots DVC draws with vega (the rest are images), from its JSON. */
/** How many images DVC's page shows: every image plot (sample and progress grids), per revision. */
function imageCount(json: string): number {
  const data = (JSON.parse(json) as { data: Record<string, { type: string }[]> }).data;
  return Object.values(data).flatMap((entries) => entries.filter((entry) => entry.type === 'image')).length;
}

function vegaPlots(json: string): string[] {
  const data = (JSON.parse(json) as { data: Record<string, { type: string }[]> }).data;
  return Object.keys(data).filter((id) => data[id].some((entry) => entry.type === 'vega'));
}

beforeAll(async () => {
  browser = await launchChromium();
  work = mkdtempSync(join(tmpdir(), 'plots-'));
  copy = join(work, 'project');
  run('git', ['clone', '-q', PROJECT, copy], work);
  cpSync(join(PROJECT, 'plots'), join(copy, 'plots'), { recursive: true }); // a run's plots, committed or not
  git('add', '-A', 'plots');
  git('commit', '-qm', 'the run', '--allow-empty');
  const lines = readFileSync(join(copy, CHANGED_PLOT), 'utf8').trimEnd().split('\n');
  writeFileSync(join(copy, CHANGED_PLOT), lines.slice(0, Math.ceil(lines.length / 2)).join('\n') + '\n');
});

afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The elements DVC's page draws vega plots into: it calls `vegaEmbed('#<id>', spec)` for each. */
function chartIds(page: string): string[] {
  return Array.from(readFileSync(page, 'utf8').matchAll(/vegaEmbed\('#([^']+)'/g), (match) => match[1]);
}

/** Open a page from disk with the network refused; wait until `awaited` charts have embedded or a minute passed. */
async function render(page: string, awaited: number, screenshot: string): Promise<Rendered> {
  const context = await browser.newContext({ offline: true, viewport: { width: 1400, height: 900 } });
  const tab = await context.newPage();
  const errors: string[] = [];
  const refused: string[] = [];
  tab.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  tab.on('pageerror', (error) => errors.push(error.message));
  await tab.route('**/*', (route) => {
    if (route.request().url().startsWith('file:')) return route.continue();
    refused.push(route.request().url());
    return route.abort('internetdisconnected');
  });
  // Keep each view vegaEmbed makes: DVC's page calls it and keeps nothing.
  await tab.addInitScript(() => {
    const views: unknown[] = [];
    let embed: unknown;
    Object.defineProperty(window, '__views', { value: views });
    Object.defineProperty(window, 'vegaEmbed', {
      configurable: true,
      get: () => embed,
      set: (original: (...args: unknown[]) => Promise<{ view: unknown }>) => {
        embed = (...args: unknown[]) =>
          original(...args).then((result) => {
            views.push(result.view);
            return result;
          });
      },
    });
  });
  await tab.goto(pathToFileURL(page).href);
  await tab
    .waitForFunction((count) => (window as unknown as { __views: unknown[] }).__views.length >= count, awaited, {
      timeout: 60_000,
    })
    .catch(() => undefined); // the assertions say what is missing
  await tab.screenshot({ path: join(SCREENSHOTS, screenshot), fullPage: true });
  const measured = await tab.evaluate(measure, chartIds(page));
  await context.close();
  return { ...measured, errors, refused };
}

/** In the page: each vega plot's canvas ink and scenegraph (by the ids DVC gave their elements), and whether every
 * image loaded. */
function measure(ids: string[]): Omit<Rendered, 'errors' | 'refused'> {
  interface SceneNode {
    marktype?: string;
    role?: string;
    text?: unknown;
    items?: SceneNode[];
  }
  type View = { scenegraph: () => { root: SceneNode } };
  const views = (window as unknown as { __views: View[] }).__views;
  const walk = (node: SceneNode, chart: Chart) => {
    if (node.marktype && node.role === 'mark' && node.marktype !== 'group') chart.dataItems += node.items?.length ?? 0;
    if (node.marktype === 'text') {
      for (const item of node.items ?? []) if (item.text !== undefined) chart.texts.push(String(item.text));
    }
    for (const child of node.items ?? []) walk(child, chart);
  };
  const holders = ids.map((id) => document.getElementById(id) ?? document.createElement('div'));
  const charts = holders.map((holder) => {
    const chart: Chart = { canvas: false, inkedPixels: 0, dataItems: 0, texts: [] };
    const canvas = holder.querySelector('canvas');
    if (canvas && canvas.width > 0 && canvas.height > 0) {
      chart.canvas = true;
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < pixels.length; i += 4) {
        const nearWhite = pixels[i] > 245 && pixels[i + 1] > 245 && pixels[i + 2] > 245;
        if (pixels[i + 3] > 0 && !nearWhite) chart.inkedPixels += 1;
      }
    }
    const view = views.find((candidate) => {
      const container = (candidate as { container?: () => Element | null }).container?.();
      return container !== undefined && container !== null && holder.contains(container);
    });
    if (view) walk(view.scenegraph().root, chart);
    return chart;
  });
  const images = Array.from(document.images);
  return {
    charts,
    embedded: views.length,
    images: images.length,
    loadedImages: images.filter((image) => image.complete && image.naturalWidth > 0).length,
  };
}

function expectEveryChartDrawn(rendered: Rendered, expected: number): void {
  expect(rendered.errors).toEqual([]);
  expect(rendered.refused).toEqual([]);
  expect(rendered.charts.length).toBe(expected);
  expect(rendered.embedded).toBe(expected);
  rendered.charts.forEach((chart, index) => {
    expect(chart.canvas, `chart ${index} has no canvas`).toBe(true);
    expect(chart.inkedPixels, `chart ${index} is blank`).toBeGreaterThan(500);
    expect(chart.dataItems, `chart ${index} draws no data`).toBeGreaterThan(0);
  });
  expect(rendered.images).toBeGreaterThan(0);
  expect(rendered.loadedImages).toBe(rendered.images);
}

describe('the review plots, offline', () => {
  it('`dvc plots show` draws every chart and image from the page alone', async () => {
    const expected = vegaPlots(dvc('plots', 'show', '--json')).length;
    dvc('plots', 'show', '-o', join(work, 'show'));
    const rendered = await render(join(work, 'show', 'index.html'), expected, 'plots_show_offline.png');
    expect(expected).toBeGreaterThan(5);
    expectEveryChartDrawn(rendered, expected);
    console.log(`plots show: ${rendered.charts.length} charts drawn, ${rendered.loadedImages} images`);
  });

  it('`dvc plots diff` draws every chart with both revisions', async () => {
    const json = dvc('plots', 'diff', 'HEAD', '--json');
    const expected = vegaPlots(json).length;
    dvc('plots', 'diff', 'HEAD', '-o', join(work, 'diff'));
    const rendered = await render(join(work, 'diff', 'index.html'), expected, 'plots_diff_offline.png');
    expectEveryChartDrawn(rendered, expected);
    rendered.charts.forEach((chart, index) => {
      expect(chart.texts, `chart ${index}`).toEqual(expect.arrayContaining(['workspace', 'HEAD']));
    });
    // the sample grid and the progress grids, of each revision
    expect(imageCount(json)).toBeGreaterThanOrEqual(4);
    expect(rendered.loadedImages).toBe(imageCount(json));
    console.log(`plots diff: ${rendered.charts.length} charts drawn with both revisions`);
  });

  it("DVC's default page, the control, draws no chart offline and asks the network for its libraries", async () => {
    const expected = vegaPlots(dvc('plots', 'show', '--json')).length;
    dvc('config', '--unset', 'plots.html_template');
    dvc('plots', 'show', '-o', join(work, 'default'));
    const rendered = await render(join(work, 'default', 'index.html'), 0, 'plots_default_offline.png');
    expect(rendered.charts.length).toBe(expected);
    expect(rendered.charts.filter((chart) => chart.canvas)).toEqual([]);
    expect(rendered.embedded).toBe(0);
    expect(rendered.refused.some((url) => url.includes('vega'))).toBe(true);
    expect(rendered.errors.join('\n')).toMatch(/vegaEmbed is not (defined|a function)/);
  });
});
