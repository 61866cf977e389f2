/**
 * A seam for the end-to-end tests and the benchmark, which create `window.__test__` before the
 * page loads; the app never creates it. Through it they hand in noise and read exact results.
 */

export interface TestHook {
  /** Noise for the next generation, (N, C, H, W) flat, instead of the seeded PRNG's. */
  noise?: number[];
  /** Float samples of the last generation, before uint8 quantisation. */
  samples?: number[];
  /** When each step of the running or last generation finished, in milliseconds since the epoch. */
  stepsFinishedAt?: number[];
  /** Milliseconds of every velocity evaluation of the last generation, and of the whole run. */
  evaluationMs?: number[];
  totalMs?: number;
  /** Probabilities of the last classification, and the classifier that made them. */
  probabilities?: number[];
  classifier?: string;
}

export function testHook(): TestHook | undefined {
  return (globalThis as { __test__?: TestHook }).__test__;
}
