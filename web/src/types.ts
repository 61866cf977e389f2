/** Types the hooks and panels share: what a generation and a classification report, and a prepared image. */

import type { RgbImage } from './preprocess';
import type { Solver } from './sampler';

/** An image ready for the classifiers: a small preview to show and one input per classifier size. */
export interface PreparedImage {
  name: string;
  /** Its own size. */
  width: number;
  height: number;
  /** At most PREVIEW_SIZE on its longer side. */
  preview: RgbImage;
  /** The classifier input at each size asked for, resized as the pipeline resizes. */
  inputs: Record<number, RgbImage>;
}

export interface GenerationStats {
  batch: number;
  steps: number;
  solver: Solver;
  /** Per completed step: the milliseconds of its velocity evaluations. */
  stepMs: number[];
  totalMs?: number;
  /** Milliseconds spent making a session for this batch size first, if one was made. */
  sessionMs?: number;
}

export interface ClassificationStats {
  model: string;
  ms: number;
}

export interface RankedClass {
  name: string;
  probability: number;
}

export interface Classification {
  model: string;
  /** Every class, most probable first. */
  ranked: RankedClass[];
}
