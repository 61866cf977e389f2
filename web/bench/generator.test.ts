/**
 * The generator's per-step latency in the browser against Python ONNX Runtime on the same model,
 * batch, thread count and machine, and how long the app takes to be ready on a first load and on
 * reloads.
 *
 * A shared, busy machine slows runs unevenly, so measurements take turns at the finest grain:
 * one browser evaluation, then one Python evaluation (a long-lived `tools.web_reference timing-server`),
 * then the next configuration, step after step, with a 30 ms pause between any two so that
 * neither runtime's idle threads still spin while the other is timed. Making a session is timed
 * the same way: once a round for every lever, in turn, with the runtime already started. Each configuration's speed is the median over
 * those adjacent pairs of Python ms / browser ms (1.0: as fast as Python).
 *
 * Configurations: each lever tried (ONNX Runtime's build, a fixed or free batch, the optimisation
 * level, the int8 graph when the project has one), each in its own worker (bench/levers.worker.js)
 * with its session open; and the app as shipped, through its page, a whole run at a time, each run
 * followed by as many Python evaluations. Writes bench/results.json and bench/results.md.
 *
 *     npm run bench     (BENCH_BATCH, BENCH_STEPS, BENCH_ROUNDS, BENCH_THREADS=1,2 change the defaults;
 *                        BENCH_LEVERS=regex times only the levers whose names match)
 */

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import {
  fillGenerateForm,
  launchChromium,
  MODELS,
  nextHookValue,
  openApp,
  PROJECT,
  python,
  PYTHON,
  readHook,
  ROOT,
  SCRATCH,
  waitUntilReady,
  WEB,
} from '../e2e/harness';

const BATCH = Number(process.env.BENCH_BATCH ?? 4);
const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THREADS = (process.env.BENCH_THREADS ?? '1,2').split(',').map(Number);
/** Only the levers whose names match (a regular expression); all by default. */
const ONLY = new RegExp(process.env.BENCH_LEVERS ?? '');
const RELOADS = 3;
const SETTLE_MS = 30;
const FP32 = join(MODELS, 'dit.onnx');
const INT8 = join(PROJECT, 'models', 'quantized', 'dit_int8.onnx');
const OFFLINE = join(SCRATCH, 'dit_offline.onnx');
const ORT_DIST = join(WEB, 'node_modules', 'onnxruntime-web', 'dist');
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

interface Lever {
  name: string;
  build: 'jsep' | 'wasm';
  fixedBatch: boolean;
  optimization: 'all' | 'extended' | 'disabled';
  /** offline: the fp32 graph as Python ONNX Runtime optimises it (level extended, batch fixed), saved. */
  graph: 'fp32' | 'int8' | 'offline';
  /** false: ONNX Runtime's idle threads sleep at once instead of spinning first. */
  spinning?: boolean;
}

/** The levers tried, the app's previous configuration first. */
const LEVERS: Lever[] = [
  { name: 'before: WebGPU build, free batch', build: 'jsep', fixedBatch: false, optimization: 'all', graph: 'fp32' },
  {
    name: 'WebGPU build, fixed batch, level extended',
    build: 'jsep',
    fixedBatch: true,
    optimization: 'extended',
    graph: 'fp32',
  },
  { name: 'CPU-only build, free batch', build: 'wasm', fixedBatch: false, optimization: 'all', graph: 'fp32' },
  {
    name: 'CPU-only build, fixed batch, level all',
    build: 'wasm',
    fixedBatch: true,
    optimization: 'all',
    graph: 'fp32',
  },
  {
    name: 'CPU-only build, fixed batch, level extended',
    build: 'wasm',
    fixedBatch: true,
    optimization: 'extended',
    graph: 'fp32',
  },
  {
    name: 'CPU-only build, fixed batch, level extended, no spinning',
    build: 'wasm',
    fixedBatch: true,
    optimization: 'extended',
    graph: 'fp32',
    spinning: false,
  },
  {
    name: 'offline-optimised graph, CPU-only build, no optimisation in the browser',
    build: 'wasm',
    fixedBatch: true,
    optimization: 'disabled',
    graph: 'offline',
  },
  ...(existsSync(INT8)
    ? [
        {
          name: 'int8 graph, CPU-only build, fixed batch',
          build: 'wasm',
          fixedBatch: true,
          optimization: 'extended',
          graph: 'int8',
        } as Lever,
      ]
    : []),
];

const app = inject('appUrl');
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** A pause between evaluations, so that the threads of the last one stop spinning before the next is timed. */
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** Python ONNX Runtime answering one timed evaluation per request (tools.web_reference timing-server). */
function startPython() {
  const child = spawn(PYTHON, ['-m', 'tools.web_reference', 'timing-server'], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async evaluate(graph: string, threads: number, fixedBatch: boolean, t: number): Promise<number> {
      child.stdin.write(JSON.stringify({ model: graph, batch: BATCH, threads, fixed_batch: fixedBatch, t }) + '\n');
      const { value, done } = await lines.next();
      if (done) throw new Error('tools.web_reference timing-server stopped; its error is above');
      return (JSON.parse(value) as { ms: number }).ms;
    },
    close: () => child.stdin.end(),
  };
}

/**
 * A static server for the levers (a blank page, the lever worker, ONNX Runtime's files, the fp32
 * and int8 graphs) on localhost, with the isolation headers: ONNX Runtime's threads are workers
 * started from its own script, which a page route would not serve.
 */
async function serveLevers(): Promise<{ url: string; close: () => void }> {
  const files: Record<string, string> = {
    'levers.worker.js': join(WEB, 'bench', 'levers.worker.js'),
    'dit.onnx': FP32,
    'dit_int8.onnx': INT8,
    'dit_offline.onnx': OFFLINE,
    'resnet8.onnx': join(MODELS, 'resnet8.onnx'),
  };
  const types: Record<string, string> = { mjs: 'text/javascript', js: 'text/javascript', wasm: 'application/wasm' };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname.slice(1);
    const file = path.startsWith('ort/') ? join(ORT_DIST, path.slice(4)) : files[path];
    for (const [header, value] of Object.entries(ISOLATION)) response.setHeader(header, value);
    if (path === 'index.html') return response.end('<!doctype html><title>levers</title>');
    if (!file || !existsSync(file)) return response.writeHead(404).end();
    response.setHeader('Content-Type', types[path.split('.').pop()!] ?? 'application/octet-stream');
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

type WorkerReply = { ok: boolean; result: { ms?: number }; message?: string };

/** A worker in the lever page with the lever's session open; `evaluate` times one evaluation. */
async function openLever(page: Page, lever: Lever, threads: number) {
  const key = `${lever.name} / ${threads}`;
  const call = async (message: object) => {
    const reply = await page.evaluate(
      ([id, payload]) => {
        const workers = ((window as unknown as { levers?: Map<string, Worker> }).levers ??= new Map<string, Worker>());
        if (!workers.has(id)) workers.set(id, new Worker('/levers.worker.js', { type: 'module' }));
        const worker = workers.get(id)!;
        return new Promise<WorkerReply>((resolve) => {
          worker.onmessage = ({ data }: MessageEvent) => resolve(data);
          worker.onerror = (event) => resolve({ ok: false, result: {}, message: `worker failed: ${event.message}` });
          worker.postMessage(payload);
        });
      },
      [key, message] as const,
    );
    if (!reply.ok) throw new Error(`${key}: ${reply.message}`);
    return reply.result;
  };
  const model = { fp32: '/dit.onnx', int8: '/dit_int8.onnx', offline: '/dit_offline.onnx' }[lever.graph];
  await call({ type: 'open', lever: { ...lever, threads, batch: BATCH, model } });
  const evaluate = async (t: number) => (await call({ type: 'run', t })).ms!;
  const session = async () => (await call({ type: 'session' })).ms!;
  for (let i = 0; i < 3; i++) await evaluate(0.5); // warm-up: the first runs allocate
  return { evaluate, session };
}

/** Milliseconds of every evaluation of one run in a fresh page of the app, and its loop's own cost per step. */
async function appRun(threads: number): Promise<{ times: number[]; overheadMs: number; firstMs: number }> {
  const { page, errors } = await openApp(browser, `${app}?backend=wasm&threads=${threads}`);
  await waitUntilReady(page);
  expect(await page.getByTestId('threads').textContent()).toBe(String(threads));
  await fillGenerateForm(page, { steps: STEPS, solver: 'euler', batch: BATCH });
  const run = () => nextHookValue(page, 'evaluationMs', () => page.getByRole('button', { name: 'Generate' }).click());
  const [firstMs] = await run(); // the first evaluation after loading: the app warmed its session up
  const times = await run();
  const totalMs = (await readHook(page, 'totalMs'))!;
  if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join('; ')}`);
  await page.close();
  const overheadMs = (totalMs - times.reduce((a, b) => a + b, 0)) / times.length;
  return { times: times.slice(1), overheadMs, firstMs };
}

/** Seconds from navigation to ready on a first load (empty cache) and on reloads, as the app states them. */
async function readyTimes(): Promise<{ first: number; reloads: number[] }> {
  const { page } = await openApp(browser, app);
  const ready = async () => {
    await waitUntilReady(page);
    return Number((await page.getByTestId('ready-time').textContent())!.replace(' s', ''));
  };
  const first = await ready();
  const reloads: number[] = [];
  for (let i = 0; i < RELOADS; i++) {
    await page.reload();
    reloads.push(await ready());
  }
  await page.close();
  return { first, reloads };
}

function machine() {
  const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
  const field = (name: string) => lscpu.match(new RegExp(`^${name}:\\s*(.+)$`, 'm'))?.[1].trim();
  const pythonOrt = execFileSync(PYTHON, ['-c', 'import onnxruntime; print(onnxruntime.__version__)'], {
    encoding: 'utf8',
  }).trim();
  return {
    cpu: field('Model name') ?? cpus()[0].model,
    cores: Number(field('Core\\(s\\) per socket') ?? cpus().length) * Number(field('Socket\\(s\\)') ?? 1),
    threads: cpus().length,
    load_average_1min: loadavg()[0],
    chromium: browser.version(),
    onnxruntime_web: JSON.parse(readFileSync(join(ORT_DIST, '..', 'package.json'), 'utf8')).version as string,
    onnxruntime_python: pythonOrt,
  };
}

interface Row {
  name: string;
  graph: Lever['graph'];
  threads: number;
  browser: number[];
  python: number[];
  /** Python ms / browser ms of each adjacent pair. */
  speeds: number[];
  session: number[];
  overhead: number[];
  first: number[];
}

it(
  `times the generator at batch ${BATCH}: the app and each lever against Python ONNX Runtime`,
  async () => {
    const ready = await readyTimes();
    python('web_reference', ['optimize', '--model', FP32, '--out', OFFLINE, '--fixed-batch', String(BATCH)]);
    const timing = startPython();
    const levers = await serveLevers();
    const leverPage = await browser.newPage();
    await leverPage.goto(`${levers.url}index.html`);
    expect(await leverPage.evaluate(() => crossOriginIsolated)).toBe(true);

    const row = (name: string, graph: Row['graph'], threads: number): Row => ({
      name,
      graph,
      threads,
      browser: [],
      python: [],
      speeds: [],
      session: [],
      overhead: [],
      first: [],
    });
    const appRows = THREADS.map((threads) => row('the app as shipped', 'fp32', threads));
    const fixedPython = THREADS.map((threads) => row('Python, batch fixed as the app fixes it', 'fp32', threads));
    const leverRows: { row: Row; evaluate: (t: number) => Promise<number>; session: () => Promise<number> }[] = [];
    for (const threads of THREADS) {
      for (const lever of LEVERS.filter(({ name }) => ONLY.test(name))) {
        const opened = await openLever(leverPage, lever, threads);
        leverRows.push({ row: row(lever.name, lever.graph, threads), ...opened });
      }
    }
    const pair = async (target: Row, browserMs: number, t: number) => {
      await settle();
      const pythonMs = await timing.evaluate(target.graph === 'int8' ? INT8 : FP32, target.threads, false, t);
      await settle();
      target.browser.push(browserMs);
      target.python.push(pythonMs);
      target.speeds.push(pythonMs / browserMs);
    };

    for (let round = 0; round < ROUNDS; round++) {
      console.log(`round ${round + 1} of ${ROUNDS}`);
      for (const [index, threads] of THREADS.entries()) {
        const { times, overheadMs, firstMs } = await appRun(threads);
        appRows[index].overhead.push(overheadMs);
        appRows[index].first.push(firstMs);
        for (const [step, ms] of times.entries()) await pair(appRows[index], ms, step / STEPS);
      }
      // Sessions too take turns, so that none is made while the runtime's code is still being optimised
      for (const { row: target, session } of leverRows) target.session.push(await session());
      for (let step = 0; step < STEPS; step++) {
        const t = step / STEPS;
        for (const { row: target, evaluate } of leverRows) await pair(target, await evaluate(t), t);
        for (const [index, threads] of THREADS.entries()) {
          const fixedMs = await timing.evaluate(FP32, threads, true, t);
          await settle();
          const freeMs = await timing.evaluate(FP32, threads, false, t);
          await settle();
          fixedPython[index].browser.push(fixedMs); // here "browser" holds Python with a fixed batch
          fixedPython[index].python.push(freeMs);
          fixedPython[index].speeds.push(freeMs / fixedMs);
        }
      }
    }
    timing.close();
    levers.close();
    await leverPage.close();

    const summary = (r: Row) => ({
      name: r.name,
      graph: r.graph,
      threads: r.threads,
      browser_ms: median(r.browser),
      python_ms: median(r.python),
      speed_vs_python: median(r.speeds),
      pairs: r.speeds.length,
      session_ms: r.session.length > 0 ? median(r.session) : undefined,
      loop_overhead_ms: r.overhead.length > 0 ? median(r.overhead) : undefined,
      first_step_ms: r.first.length > 0 ? median(r.first) : undefined,
    });
    const model = (
      JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as { models: { id: string }[] }
    ).models.find((entry) => entry.id === 'dit')!;
    const results = {
      machine: machine(),
      model,
      batch: BATCH,
      steps: STEPS,
      rounds: ROUNDS,
      ready_seconds: ready,
      rows: [...appRows, ...leverRows.map(({ row: r }) => r)].map(summary),
      python_fixed_batch: fixedPython.map(summary),
    };
    writeFileSync(join(WEB, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
    writeFileSync(join(WEB, 'bench', 'results.md'), markdown(results));
    console.log(markdown(results));
    for (const r of results.rows) expect(r.pairs).toBe(ROUNDS * (r.name === 'the app as shipped' ? STEPS - 1 : STEPS));
  },
  60 * 60_000,
);

type Summary = {
  name: string;
  graph: string;
  threads: number;
  browser_ms: number;
  python_ms: number;
  speed_vs_python: number;
  session_ms?: number;
  loop_overhead_ms?: number;
  first_step_ms?: number;
};

function markdown(results: {
  machine: ReturnType<typeof machine>;
  batch: number;
  steps: number;
  rounds: number;
  ready_seconds: { first: number; reloads: number[] };
  rows: Summary[];
  python_fixed_batch: Summary[];
}): string {
  const m = results.machine;
  const ms = (value?: number) => (value === undefined ? '' : value.toFixed(1));
  const app = results.rows.filter((r) => r.loop_overhead_ms !== undefined);
  return [
    `Generator step (one guided velocity evaluation), batch ${results.batch}, ${results.rounds} rounds of ` +
      `${results.steps} steps. Browser and Python evaluations take turns one by one; speed is the median of ` +
      `Python ms / browser ms over those pairs (1.00 = as fast as Python ONNX Runtime ${m.onnxruntime_python} ` +
      `with the same threads, on the pipeline's graph as the pipeline opens it). Session ms: the median time ` +
      `to make the lever's session once more, its runtime already started, once a round in turn.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.threads} threads (load average ${m.load_average_1min.toFixed(1)} ` +
      `at the end); Chromium ${m.chromium} headless; ONNX Runtime Web ${m.onnxruntime_web}, wasm.`,
    '',
    '| configuration | graph | threads | browser ms | Python ms | speed vs Python | session ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...results.rows.map(
      (r) =>
        `| ${r.name} | ${r.graph} | ${r.threads} | ${ms(r.browser_ms)} | ${ms(r.python_ms)} | ` +
        `${r.speed_vs_python.toFixed(2)} | ${ms(r.session_ms)} |`,
    ),
    '',
    `Python with the batch fixed as the app fixes it: ${results.python_fixed_batch
      .map((r) => `${ms(r.browser_ms)} ms against ${ms(r.python_ms)} ms free at ${r.threads} thread(s)`)
      .join('; ')}.`,
    `The app's sampling loop costs ${app.map((r) => `${ms(r.loop_overhead_ms)} ms`).join(' and ')} per step ` +
      `beyond the evaluation (${app.map((r) => r.threads).join(' and ')} threads); the first evaluation after ` +
      `loading took ${app.map((r) => `${ms(r.first_step_ms)} ms`).join(' and ')}.`,
    '',
    `Ready (every model loaded, from navigation): first load ${results.ready_seconds.first.toFixed(2)} s; ` +
      `reloads ${results.ready_seconds.reloads.map((s) => s.toFixed(2)).join(', ')} s.`,
    '',
  ].join('\n');
}
