/**
 * Rectified-flow sampling with the ODE loop outside the graph, as the pipeline samples:
 * t=0 is pure noise x0 ~ N(0, I), t=1 is data, and dx/dt = v(x, t) is integrated with Euler or
 * Heun over `steps` steps of the pipeline's time grid (uniform, or shifted towards the noise).
 * Then model space to uint8 pixels.
 */

import { GenerationStopped } from './errors';

export type Solver = 'euler' | 'heun';

export const SOLVERS: readonly Solver[] = ['euler', 'heun'];
export const EVALUATIONS_PER_STEP: Record<Solver, number> = { euler: 1, heun: 2 };

/** One guided velocity evaluation: x (N*C*H*W, flat) at time t -> v shaped like x. */
export type VelocityFn = (x: Float32Array, t: number) => Promise<Float32Array>;

export interface SampleOptions {
  steps: number;
  solver: Solver;
  /** > 1 takes more of the steps near the noise; 1 (the default) is uniform. */
  shift?: number;
  /** Called with the current x after every step (1-based), e.g. to show the image forming. */
  onStep?: (x: Float32Array, step: number) => void;
  /** Asked before every step; true ends the run with GenerationStopped. */
  shouldStop?: () => boolean | Promise<boolean>;
}

/**
 * The guidance scale at flow time t: `scale` inside [low, high], else 1, the plain conditional
 * velocity; compared in float32 as the pipeline compares its time tensor.
 */
export function guidanceAt(t: number, scale: number, [low, high]: readonly [number, number]): number {
  const t32 = Math.fround(t);
  return t32 >= Math.fround(low) && t32 <= Math.fround(high) ? scale : 1;
}

/** x + a * v, elementwise, into a new float32 array. */
function axpy(x: Float32Array, a: number, v: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) out[j] = x[j] + a * v[j];
  return out;
}

/**
 * steps + 1 flow times from 0 to 1: uniform u mapped to t = u / (1 + (shift - 1)(1 - u)), in
 * double precision as the pipeline's time_grid computes them.
 */
export function timeGrid(steps: number, shift = 1): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer ≥ 1, got ${steps}`);
  if (!(shift > 0)) throw new RangeError(`time shift must be above 0, got ${shift}`);
  return Array.from({ length: steps + 1 }, (_, i) => i / steps).map((u) => u / (1 + (shift - 1) * (1 - u)));
}

/** Integrate noise (t=0) to data (t=1); throws GenerationStopped when shouldStop says so. */
export async function sample(
  velocity: VelocityFn,
  noise: Float32Array,
  { steps, solver, shift = 1, onStep, shouldStop }: SampleOptions,
): Promise<Float32Array> {
  if (!SOLVERS.includes(solver)) throw new RangeError(`unknown solver ${String(solver)}; expected euler or heun`);
  const times = timeGrid(steps, shift);
  let x: Float32Array = Float32Array.from(noise);
  for (let i = 0; i < steps; i++) {
    if (await shouldStop?.()) throw new GenerationStopped(i, steps);
    const dt = times[i + 1] - times[i];
    const dt32 = Math.fround(dt); // the step is a float32 scalar, as in the PyTorch loop
    const v0 = await velocity(x, times[i]);
    if (solver === 'euler') {
      x = axpy(x, dt32, v0);
    } else {
      const v1 = await velocity(axpy(x, dt32, v0), times[i + 1]);
      const half = Math.fround(dt32 * 0.5);
      const next = new Float32Array(x.length);
      for (let j = 0; j < x.length; j++) next[j] = x[j] + half * Math.fround(v0[j] + v1[j]);
      x = next;
    }
    onStep?.(x, i + 1);
  }
  return x;
}

/** Round to the nearest integer, ties to even, as torch.round and numpy.round do. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Model space (N, C, H, W) to uint8 pixels, one (H, W, C) array per image:
 * round((clamp(x, lo, hi) - lo) * 255 / (hi - lo)), the pipeline's to_uint8 for range [-1, 1].
 */
export function toPixels(x: Float32Array, shape: readonly number[], range: readonly [number, number]): Uint8Array[] {
  const [n, c, h, w] = shape;
  const [low, high] = range;
  const scale = Math.fround(255 / (high - low)); // 127.5 for [-1, 1]: exact in float32
  const images: Uint8Array[] = [];
  for (let b = 0; b < n; b++) {
    const pixels = new Uint8Array(h * w * c);
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        const value = Math.min(Math.max(x[(b * c + ch) * h * w + p], low), high);
        // float32 at each operation so ties fall where PyTorch's float32 arithmetic puts them
        pixels[p * c + ch] = roundHalfEven(Math.fround(Math.fround(value - low) * scale));
      }
    }
    images.push(pixels);
  }
  return images;
}

/**
 * Standard normal noise from a 32-bit seed: xoshiro128** (Blackman and Vigna), its state filled
 * by splitmix32 from the seed, and normals by the Box–Muller transform. The same seed gives the
 * same noise in every browser; it is not torch.randn's stream.
 */
export function gaussianNoise(seed: number, count: number): Float32Array {
  let mix = seed >>> 0;
  const splitmix32 = (): number => {
    mix = (mix + 0x9e3779b9) >>> 0;
    let z = mix;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix32(), splitmix32(), splitmix32(), splitmix32()]);
  const rotl = (v: number, k: number): number => (v << k) | (v >>> (32 - k));
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = (next() + 1) / 4294967296; // (0, 1]: log(u1) is finite
    const u2 = next() / 4294967296;
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
