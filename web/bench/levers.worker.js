// One configuration of ONNX Runtime Web (a "lever": which build, which graph, a fixed or free
// batch, the optimisation level) with the generator's session open, answering one timed guided
// velocity evaluation per request, with fresh inputs as the app's sampler makes them. The
// benchmark serves this worker, ONNX Runtime's files and the graphs from a localhost server with
// the app's isolation headers, so that threads work.

let session;
let ort;
let lever;
let bytes;

const create = () =>
  ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    logSeverityLevel: 3,
    graphOptimizationLevel: lever.optimization,
    ...(lever.fixedBatch ? { freeDimensionOverrides: { batch: lever.batch } } : {}),
    // ONNX Runtime's idle threads spin before they sleep, unless told not to
    ...(lever.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  });

async function open(chosen) {
  lever = chosen;
  const entry = lever.build === 'jsep' ? 'ort.min.mjs' : 'ort.wasm.min.mjs';
  ort = await import(`/ort/${entry}`);
  ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
  ort.env.wasm.numThreads = lever.threads;
  ort.env.logLevel = 'error';
  bytes = new Uint8Array(await (await fetch(lever.model)).arrayBuffer());
  session = await create();
  return {};
}

/** Milliseconds to make one more session of the lever's graph with its options (then released). */
async function timeSession() {
  const start = performance.now();
  const made = await create();
  const ms = performance.now() - start;
  await made.release();
  return { ms };
}

/** Milliseconds of one evaluation at time t. */
async function run(t) {
  const n = lever.batch;
  const x = new Float32Array(n * 3 * 32 * 32).map(() => Math.random() * 2 - 1);
  const start = performance.now();
  await session.run({
    x: new ort.Tensor('float32', x, [n, 3, 32, 32]),
    t: new ort.Tensor('float32', new Float32Array(n).fill(t), [n]),
    y: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [n]),
    guidance_scale: new ort.Tensor('float32', new Float32Array(n).fill(4), [n]),
  });
  return { ms: performance.now() - start };
}

self.onmessage = async ({ data }) => {
  try {
    const handlers = { open: () => open(data.lever), run: () => run(data.t), session: timeSession };
    self.postMessage({ ok: true, result: await handlers[data.type]() });
  } catch (error) {
    self.postMessage({ ok: false, message: String(error?.message ?? error) });
  }
};
