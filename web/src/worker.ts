/**
 * ONNX Runtime Web in a worker: one session per model, WebGPU where the browser offers it with a
 * fallback to wasm (multi-threaded when the page is cross-origin isolated), and the sampler loop
 * calling the generator's one guided velocity evaluation per step (two for Heun).
 */

import * as ort from 'onnxruntime-web';
import type { Backend, Command, EngineInfo, EngineSettings, GenerateRequest, LoadResult, Reply } from './engine';
import { FIX, type ModelEntry } from './manifest';
import { sample } from './sampler';

interface Loaded {
  entry: ModelEntry;
  session: ort.InferenceSession;
}

interface GpuAdapter {
  info?: { isFallbackAdapter?: boolean; architecture?: string };
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<GpuAdapter | null> };
}

// ONNX Runtime's own warnings (e.g. which nodes stay on the CPU) reach the console as errors
const ERRORS_ONLY = 3;

const models = new Map<string, Loaded>();
let preferred: Backend = 'wasm';
let running: AbortController | undefined;

const post = (reply: Reply): void => self.postMessage(reply);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function init(settings: EngineSettings, wasmPaths: string): Promise<EngineInfo> {
  const notes: string[] = [];
  const isolated = self.crossOriginIsolated;
  // SharedArrayBuffer, and so threads, exist only in a cross-origin isolated page
  const threads = isolated ? Math.max(1, Math.round(settings.threads)) : 1;
  if (!isolated && settings.threads > 1) notes.push('the page is not cross-origin isolated, so wasm runs one thread');
  ort.env.wasm.wasmPaths = wasmPaths;
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = threads;
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
  return {
    backend: preferred,
    threads,
    crossOriginIsolated: isolated,
    ortVersion: ort.env.versions.web ?? 'unknown',
    note: notes.length > 0 ? notes.join('; ') : undefined,
  };
}

async function createSession(bytes: ArrayBuffer, backend: Backend): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: [backend],
    logSeverityLevel: ERRORS_ONLY,
  });
}

async function load(entry: ModelEntry, bytes: ArrayBuffer): Promise<LoadResult> {
  const start = performance.now();
  let backend = preferred;
  let note: string | undefined;
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, backend);
  } catch (error) {
    if (backend !== 'webgpu')
      throw new Error(`models/${entry.file}: ONNX Runtime cannot load it (${messageOf(error)})`);
    note = `WebGPU cannot run it (${messageOf(error)}), so wasm does`;
    backend = 'wasm';
    session = await createSession(bytes, backend);
  }
  const absent = [
    ...entry.input_names.filter((name) => !session.inputNames.includes(name)),
    ...(session.outputNames.includes(entry.output_name) ? [] : [entry.output_name]),
  ];
  if (absent.length > 0) {
    await session.release();
    throw new Error(`models/${entry.file} has no input or output named ${absent.join(', ')}: ${FIX}`);
  }
  void models.get(entry.id)?.session.release();
  models.set(entry.id, { entry, session });
  return { backend, ms: performance.now() - start, note };
}

function loaded(id: string): Loaded {
  const model = models.get(id);
  if (!model) throw new Error(`model ${id} is not loaded`);
  return model;
}

async function generate(id: number, request: GenerateRequest) {
  const { entry, session } = loaded(request.model);
  const [n] = request.shape;
  if (!Number.isInteger(request.label) || request.label < 0 || request.label >= entry.class_names.length) {
    throw new RangeError(`class ${request.label} is not one of the ${entry.class_names.length} classes`);
  }
  if (request.noise.length !== request.shape.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`noise has ${request.noise.length} values, not (${request.shape.join(', ')})`);
  }
  const [xName, tName, yName, scaleName] = entry.input_names; // x, t, y, guidance_scale
  const labels = new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(request.label)), [n]);
  const scales = new ort.Tensor('float32', new Float32Array(n).fill(request.guidance), [n]);
  const evaluationMs: number[] = [];
  const velocity = async (x: Float32Array, t: number): Promise<Float32Array> => {
    const start = performance.now();
    const outputs = await session.run({
      [xName]: new ort.Tensor('float32', x, request.shape),
      [tName]: new ort.Tensor('float32', new Float32Array(n).fill(t), [n]),
      [yName]: labels,
      [scaleName]: scales,
    });
    evaluationMs.push(performance.now() - start);
    return outputs[entry.output_name].data as Float32Array;
  };
  running = new AbortController();
  const start = performance.now();
  let reported = 0;
  try {
    const x = await sample(velocity, request.noise, {
      steps: request.steps,
      solver: request.solver,
      signal: running.signal,
      onStep: (current, step) => {
        post({ id, type: 'step', report: { step, x: current, evaluationMs: evaluationMs.slice(reported) } });
        reported = evaluationMs.length;
      },
    });
    return { x, evaluationMs, totalMs: performance.now() - start };
  } catch (error) {
    if (running.signal.aborted) throw new Error('stopped');
    throw error;
  } finally {
    running = undefined;
  }
}

async function classify(model: string, pixels: Float32Array, batch: number) {
  const { entry, session } = loaded(model);
  const size = entry.image_size;
  const shape = entry.layout === 'NHWC' ? [batch, size, size, entry.channels] : [batch, entry.channels, size, size];
  const start = performance.now();
  const outputs = await session.run({ [entry.input_names[0]]: new ort.Tensor('float32', pixels, shape) });
  return { probabilities: outputs[entry.output_name].data as Float32Array, ms: performance.now() - start };
}

async function handle(id: number, command: Command): Promise<unknown> {
  switch (command.type) {
    case 'init':
      return init(command.settings, command.wasmPaths);
    case 'load':
      return load(command.entry, command.bytes);
    case 'generate':
      return generate(id, command.request);
    case 'classify':
      return classify(command.model, command.pixels, command.batch);
    case 'cancel':
      running?.abort();
      return null;
  }
}

self.onmessage = async ({ data }: MessageEvent<{ id: number; command: Command }>) => {
  try {
    post({ id: data.id, type: 'ok', result: await handle(data.id, data.command) });
  } catch (error) {
    post({ id: data.id, type: 'error', message: messageOf(error) });
  }
};
