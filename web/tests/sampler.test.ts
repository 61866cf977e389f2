import { describe, expect, it } from 'vitest';
import { GenerationStopped } from '../src/errors';
import { gaussianNoise, guidanceAt, roundHalfEven, sample, timeGrid, toPixels, type VelocityFn } from '../src/sampler';

/** v(x, t) = x + t, recording the times it was asked for. */
function fakeVelocity(times: number[]): VelocityFn {
  return async (x, t) => {
    times.push(t);
    return x.map((value) => value + t);
  };
}

describe('sample', () => {
  it('takes Euler steps x += dt * v(x, i * dt)', async () => {
    const times: number[] = [];
    const steps: number[][] = [];
    const x = await sample(fakeVelocity(times), new Float32Array([1, -2]), {
      steps: 2,
      solver: 'euler',
      onStep: (current, step) => steps.push([step, ...current]),
    });
    // step 1: t=0, x = 1 + 0.5 * 1 = 1.5; step 2: t=0.5, x = 1.5 + 0.5 * 2 = 2.5
    // and for -2: -2 + 0.5 * -2 = -3; -3 + 0.5 * -2.5 = -4.25
    expect(times).toEqual([0, 0.5]);
    expect(Array.from(x)).toEqual([2.5, -4.25]);
    expect(steps).toEqual([
      [1, 1.5, -3],
      [2, 2.5, -4.25],
    ]);
  });

  it('takes Heun steps: predictor at t0, corrector at t1, average of the two', async () => {
    const times: number[] = [];
    const x = await sample(fakeVelocity(times), new Float32Array([1]), { steps: 2, solver: 'heun' });
    // step 1: v0 = 1, x_pred = 1.5, v1 = 1.5 + 0.5 = 2, x = 1 + 0.25 * 3 = 1.75
    // step 2: v0 = 2.25, x_pred = 2.875, v1 = 3.875, x = 1.75 + 0.25 * 6.125 = 3.28125
    expect(times).toEqual([0, 0.5, 0.5, 1]);
    expect(Array.from(x)).toEqual([3.28125]);
  });

  it('is exact for a constant velocity with either solver', async () => {
    const constant: VelocityFn = async (x) => new Float32Array(x.length).fill(0.75);
    for (const solver of ['euler', 'heun'] as const) {
      const x = await sample(constant, new Float32Array([-1]), { steps: 4, solver });
      expect(x[0]).toBeCloseTo(-0.25, 6);
    }
  });

  it('steps over the shifted time grid: t = u / (1 + (shift - 1)(1 - u)), as the pipeline does', async () => {
    const times: number[] = [];
    const x = await sample(fakeVelocity(times), new Float32Array([1]), { steps: 2, solver: 'euler', shift: 3 });
    // grid: 0, 0.5 / (1 + 2 * 0.5) = 0.25, 1; step 1: x = 1 + 0.25 * 1 = 1.25; step 2: x = 1.25 + 0.75 * 1.5
    expect(times).toEqual([0, 0.25]);
    expect(Array.from(x)).toEqual([2.375]);
  });

  it('refuses zero steps', async () => {
    await expect(sample(fakeVelocity([]), new Float32Array(1), { steps: 0, solver: 'euler' })).rejects.toThrow(/steps/);
  });

  it('stops before the next step once asked, saying how many steps it completed', async () => {
    const times: number[] = [];
    let completed = 0;
    const stopped = sample(fakeVelocity(times), new Float32Array(1), {
      steps: 10,
      solver: 'heun',
      onStep: (_, step) => (completed = step),
      shouldStop: async () => completed === 3,
    });
    await expect(stopped).rejects.toBeInstanceOf(GenerationStopped);
    await expect(stopped).rejects.toMatchObject({ step: 3, steps: 10, message: 'stopped at step 3 of 10' });
    expect(times).toHaveLength(3 * 2); // three Heun steps, no evaluation after the stop
  });
});

describe('timeGrid', () => {
  it('is uniform at shift 1, runs from 0 to 1, and puts more of the steps near the noise above 1', () => {
    expect(timeGrid(4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const shifted = timeGrid(4, 2);
    expect(shifted[0]).toBe(0);
    expect(shifted[4]).toBe(1);
    expect(shifted[2]).toBeCloseTo(1 / 3, 12); // 0.5 / (1 + 0.5)
    expect(timeGrid(4, 0.5)[2]).toBeCloseTo(2 / 3, 12); // below 1: more steps near the data
  });

  it('refuses a shift that is not above 0', () => {
    expect(() => timeGrid(4, 0)).toThrow(/time shift/);
    expect(() => timeGrid(4, Number.NaN)).toThrow(/time shift/);
  });
});

describe('guidanceAt', () => {
  it('guides inside the interval, ends included, and gives the plain conditional velocity outside', () => {
    expect([0, 0.2, 0.5, 0.8, 0.81, 1].map((t) => guidanceAt(t, 6, [0.2, 0.8]))).toEqual([1, 6, 6, 6, 1, 1]);
    expect(guidanceAt(0.3, 4, [0, 1])).toBe(4);
  });
});

describe('toPixels', () => {
  it('clamps, scales by 127.5, rounds half to even and writes HWC', () => {
    // (N=1, C=3, H=1, W=2): x -> (x + 1) * 127.5
    const x = new Float32Array([-2, 1.5, 0, 0.00392157, -0.6078431, 0.2]);
    const [pixels] = toPixels(x, [1, 3, 1, 2], [-1, 1]);
    // channel 0: 0, 255; channel 1: 127.5 -> 128 (even), 128.0 -> 128; channel 2: 49.99 -> 50, 153
    expect(Array.from(pixels)).toEqual([0, 128, 50, 255, 128, 153]);
  });

  it('rounds ties to the even neighbour like torch.round', () => {
    expect([0.5, 1.5, 2.5, 126.5, 127.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 126, 128, 2, 3]);
  });
});

describe('gaussianNoise', () => {
  it('is the same for the same seed and different for another', () => {
    expect(gaussianNoise(7, 9)).toEqual(gaussianNoise(7, 9));
    expect(gaussianNoise(7, 9)).not.toEqual(gaussianNoise(8, 9));
  });

  it('is standard normal', () => {
    const noise = gaussianNoise(1, 100_000);
    const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
    const variance = noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
  });
});
