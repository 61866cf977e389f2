/**
 * ONNX Runtime Web in a worker: one session per model, WebGPU where the browser offers it with a
 * fallback to wasm (multi-threaded when the page is cross-origin isolated), and the sampler loop
 * calling the generator's one guided velocity evaluation per step (two for Heun).
 *
 * Sessions fix the batch dimension (freeDimensionOverrides), which ONNX Runtime creates 1.1 to
 * 1.5 times faster (bench/results.md); a generator session is made per batch size, the latest two
 * kept. The wasm backend loads ONNX Runtime's CPU-only build: half the
 * download of the WebGPU build and faster to start, at the same speed per step.
 */

import type * as Ort from 'onnxruntime-web';
import { stopRequested, yieldToMessages, type StopFlag } from './cancel';
import type { Backend, Command, EngineInfo, EngineSettings, GenerateRequest, LoadResult, Reply } from './engine';
import { GenerationStopped, messageOf } from './errors';
import { FIX, type ModelEntry } from './manifest';
import { guidanceAt, sample } from './sampler';

type OrtModule = typeof Ort;

interface Loaded {
  entry: ModelEntry;
  /** Kept for generators: a new batch size needs a new session. */
  bytes?: ArrayBuffer;
  backend: Backend;
  /** By batch size, most recently used last. */
  sessions: Map<number, Ort.InferenceSession>;
  /** A first evaluation run after loading, so that the first step does not pay for allocation. */
  warmUp?: Promise<void>;
}

interface GpuAdapter {
  info?: { isFallbackAdapter?: boolean; architecture?: string };
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<GpuAdapter | null> };
}

// ONNX Runtime's own warnings (e.g. which nodes stay on the CPU) reach the console as errors
const ERRORS_ONLY = 3;
/** The exported graphs' name for their batch dimension (pipeline/generator/export.py, keras_to_onnx). */
const BATCH_DIMENSION = 'batch';
const GENERATOR_SESSIONS_KEPT = 2;

let ort: OrtModule;
const models = new Map<string, Loaded>();
let preferred: Backend = 'wasm';
let stopByMessage = false;

const post = (reply: Reply): void => self.postMessage(reply);

async function init(settings: EngineSettings, wasmPaths: string): Promise<EngineInfo> {
  const notes: string[] = [];
  const isolated = self.crossOriginIsolated;
  // SharedArrayBuffer, and so threads, exist only in a cross-origin isolated page
  const threads = isolated ? Math.max(1, Math.round(settings.threads)) : 1;
  if (!isolated && settings.threads > 1) notes.push('the page is not cross-origin isolated, so wasm runs one thread');
  preferred = 'wasm';
  if (settings.backend !== 'wasm') {
    const gpu = (navigator as Navigator & GpuNavigator).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!adapter) {
      if (settings.backend === 'webgpu') notes.push('this browser offers no WebGPU adapter, so wasm runs the models');
    } else if (adapter.info?.isFallbackAdapter && settings.backend === 'auto') {
      // A software adapter (SwiftShader) is far slower than wasm; use it only when asked to
      notes.push(
        `the only WebGPU adapter is a software one (${adapter.info.architecture ?? 'fallback'}), so wasm runs the models`,
      );
    } else {
      preferred = 'webgpu';
    }
  }
  ort = preferred === 'webgpu' ? await import('onnxruntime-web') : await import('onnxruntime-web/wasm');
  ort.env.wasm.wasmPaths = wasmPaths;
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = threads;
  return {
    backend: preferred,
    threads,
    crossOriginIsolated: isolated,
    ortVersion: ort.env.versions.web ?? 'unknown',
    note: notes.length > 0 ? notes.join('; ') : undefined,
  };
}

function createSession(bytes: ArrayBuffer, backend: Backend, batch: number): Promise<Ort.InferenceSession> {
  return ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: [backend],
    logSeverityLevel: ERRORS_ONLY,
    graphOptimizationLevel: 'extended',
    freeDimensionOverrides: { [BATCH_DIMENSION]: batch },
  });
}

/** Whether the session's first input has the batch it was made for, not a free dimension. */
function batchIsFixed(session: Ort.InferenceSession, batch: number): boolean {
  const first = session.inputMetadata[0];
  return first?.isTensor === true && first.shape[0] === batch;
}

async function load(entry: ModelEntry, bytes: ArrayBuffer, batch: number): Promise<LoadResult> {
  const start = performance.now();
  let backend = preferred;
  let note: string | undefined;
  let session: Ort.InferenceSession;
  try {
    session = await createSession(bytes, backend, batch);
  } catch (error) {
    if (backend !== 'webgpu')
      throw new Error(`models/${entry.file}: ONNX Runtime cannot load it (${messageOf(error)})`);
    note = `WebGPU cannot run it (${messageOf(error)}), so wasm does`;
    backend = 'wasm';
    session = await createSession(bytes, backend, batch);
  }
  const absent = [
    ...entry.input_names.filter((name) => !session.inputNames.includes(name)),
    ...(session.outputNames.includes(entry.output_name) ? [] : [entry.output_name]),
  ];
  if (absent.length > 0) {
    await session.release();
    throw new Error(`models/${entry.file} has no input or output named ${absent.join(', ')}: ${FIX}`);
  }
  for (const old of models.get(entry.id)?.sessions.values() ?? []) void old.release();
  const loaded: Loaded = { entry, backend, sessions: new Map([[batch, session]]) };
  if (entry.role === 'generator') {
    loaded.bytes = bytes;
    loaded.warmUp = velocityOf(
      entry,
      session,
      batch,
      0,
      1,
      [0, 1],
    )(new Float32Array(batch * 3 * entry.image_size ** 2), 0)
      .then(() => undefined)
      .catch(() => undefined);
  }
  models.set(entry.id, loaded);
  const fixed = batchIsFixed(session, batch);
  if (!fixed)
    note = [note, `its batch dimension is not named "${BATCH_DIMENSION}", so it stays free`].filter(Boolean).join('; ');
  return { backend, ms: performance.now() - start, batch: fixed ? batch : undefined, note };
}

function loaded(id: string): Loaded {
  const model = models.get(id);
  if (!model) throw new Error(`model ${id} is not loaded`);
  return model;
}

/** The model's session for this batch size, made (and the oldest other dropped) if there is none. */
async function sessionFor(model: Loaded, batch: number): Promise<{ session: Ort.InferenceSession; ms?: number }> {
  const existing = model.sessions.get(batch);
  if (existing) {
    model.sessions.delete(batch);
    model.sessions.set(batch, existing);
    return { session: existing };
  }
  if (!model.bytes) throw new Error(`models/${model.entry.file} takes one image at a time`);
  const start = performance.now();
  const session = await createSession(model.bytes, model.backend, batch);
  model.sessions.set(batch, session);
  if (model.sessions.size > GENERATOR_SESSIONS_KEPT) {
    const [oldest, dropped] = model.sessions.entries().next().value!;
    model.sessions.delete(oldest);
    void dropped.release();
  }
  return { session, ms: performance.now() - start };
}

/** v(x, t) of the generator: one guided evaluation, its milliseconds appended to `times`. */
function velocityOf(
  entry: ModelEntry,
  session: Ort.InferenceSession,
  n: number,
  label: number,
  guidance: number,
  interval: readonly [number, number],
  times: number[] = [],
) {
  const shape = [n, entry.channels, entry.image_size, entry.image_size];
  const [xName, tName, yName, scaleName] = entry.input_names; // x, t, y, guidance_scale
  const labels = new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(label)), [n]);
  return async (x: Float32Array, t: number): Promise<Float32Array> => {
    const start = performance.now();
    const outputs = await session.run({
      [xName]: new ort.Tensor('float32', x, shape),
      [tName]: new ort.Tensor('float32', new Float32Array(n).fill(t), [n]),
      [yName]: labels,
      [scaleName]: new ort.Tensor('float32', new Float32Array(n).fill(guidanceAt(t, guidance, interval)), [n]),
    });
    times.push(performance.now() - start);
    return outputs[entry.output_name].data as Float32Array;
  };
}

async function generate(id: number, request: GenerateRequest, stop: StopFlag) {
  const model = loaded(request.model);
  const { entry } = model;
  const [n] = request.shape;
  if (!Number.isInteger(request.label) || request.label < 0 || request.label >= entry.class_names.length) {
    throw new RangeError(`class ${request.label} is not one of the ${entry.class_names.length} classes`);
  }
  if (request.noise.length !== request.shape.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`noise has ${request.noise.length} values, not (${request.shape.join(', ')})`);
  }
  stopByMessage = false;
  await model.warmUp;
  const { session, ms: sessionMs } = await sessionFor(model, n);
  const evaluationMs: number[] = [];
  const { label, guidance, guidanceInterval } = request;
  const velocity = velocityOf(entry, session, n, label, guidance, guidanceInterval, evaluationMs);
  const start = performance.now();
  let reported = 0;
  const x = await sample(velocity, request.noise, {
    steps: request.steps,
    solver: request.solver,
    shift: request.shift,
    // A shared flag is read at once; otherwise the cancel message needs a turn of the event loop
    shouldStop: async () => {
      if (!stop.shared) await yieldToMessages();
      return stopRequested(stop, stopByMessage);
    },
    onStep: (current, step) => {
      const finishedAt = performance.timeOrigin + performance.now();
      post({ id, type: 'step', report: { step, x: current, evaluationMs: evaluationMs.slice(reported), finishedAt } });
      reported = evaluationMs.length;
    },
  });
  return { x, evaluationMs, totalMs: performance.now() - start, sessionMs };
}

async function classify(id: string, pixels: Float32Array) {
  const { entry, sessions } = loaded(id);
  const [batch, session] = sessions.entries().next().value!;
  const size = entry.image_size;
  const shape = entry.layout === 'NHWC' ? [batch, size, size, entry.channels] : [batch, entry.channels, size, size];
  const start = performance.now();
  const outputs = await session.run({ [entry.input_names[0]]: new ort.Tensor('float32', pixels, shape) });
  return { output: outputs[entry.output_name].data as Float32Array, ms: performance.now() - start };
}

async function handle(id: number, command: Command): Promise<unknown> {
  switch (command.type) {
    case 'init':
      return init(command.settings, command.wasmPaths);
    case 'load':
      return load(command.entry, command.bytes, command.batch);
    case 'generate':
      return generate(id, command.request, command.stop);
    case 'classify':
      return classify(command.model, command.pixels);
    case 'cancel':
      stopByMessage = true;
      return null;
  }
}

self.onmessage = async ({ data }: MessageEvent<{ id: number; command: Command }>) => {
  try {
    post({ id: data.id, type: 'ok', result: await handle(data.id, data.command) });
  } catch (error) {
    if (error instanceof GenerationStopped)
      post({ id: data.id, type: 'stopped', step: error.step, steps: error.steps });
    else post({ id: data.id, type: 'error', message: messageOf(error) });
  }
};
