/**
 * A generation from the form's values: the engine call, the images redrawn at every step, Stop,
 * the outcome (done, stopped at a step, failed), the statistics, the test hook's samples, and
 * saving an image as PNG.
 */

import { useState } from 'react';
import { downloadBlob, encodePng } from '../download';
import type { Engine } from '../engine';
import { GenerationStopped, messageOf } from '../errors';
import type { ModelEntry } from '../manifest';
import type { RgbImage } from '../preprocess';
import { gaussianNoise, toPixels } from '../sampler';
import { testHook } from '../testHook';
import type { GenerationStats } from '../types';
import type { GenerateValues } from './useGenerateForm';

export type Outcome =
  | { kind: 'done'; text: string }
  | { kind: 'stopped'; step: number; steps: number }
  | { kind: 'failed'; message: string };

export interface Generator {
  images: RgbImage[];
  /** The class name of the images shown. */
  className?: string;
  progress?: { step: number; steps: number };
  running: boolean;
  outcome?: Outcome;
  stats?: GenerationStats;
  generate: (values: GenerateValues) => Promise<void>;
  stop: () => void;
  /** Download image `index` as a PNG, each pixel `scale` × `scale`. */
  save: (index: number, scale: number) => Promise<void>;
}

export function useGenerator(engine: Engine | undefined, generator: ModelEntry | undefined): Generator {
  const [images, setImages] = useState<RgbImage[]>([]);
  const [className, setClassName] = useState<string>();
  const [progress, setProgress] = useState<{ step: number; steps: number }>();
  const [running, setRunning] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const [stats, setStats] = useState<GenerationStats>();
  const [seed, setSeed] = useState(0);

  async function generate(values: GenerateValues): Promise<void> {
    const { label, guidance, guidanceInterval, steps, shift, solver, seed, batch } = values;
    if (!engine || !generator || running) return;
    const size = generator.image_size;
    const shape: [number, number, number, number] = [batch, generator.channels, size, size];
    const toImages = (x: Float32Array): RgbImage[] =>
      toPixels(x, shape, generator.value_range ?? [-1, 1]).map((pixels) => ({ width: size, height: size, pixels }));
    const hook = testHook();
    const noise = hook?.noise
      ? Float32Array.from(hook.noise)
      : gaussianNoise(
          seed,
          shape.reduce((a, b) => a * b, 1),
        );
    const name = generator.class_names[label];
    setRunning(true);
    setOutcome(undefined);
    setProgress({ step: 0, steps });
    setImages(toImages(noise));
    setClassName(name);
    setSeed(seed);
    const current: GenerationStats = { batch, steps, solver, stepMs: [] };
    setStats({ ...current });
    if (hook) hook.stepsFinishedAt = [];
    try {
      const result = await engine.generate(
        { model: generator.id, noise, shape, label, guidance, guidanceInterval, steps, solver, shift },
        (report) => {
          setImages(toImages(report.x));
          setProgress({ step: report.step, steps });
          current.stepMs.push(report.evaluationMs.reduce((a, b) => a + b, 0));
          hook?.stepsFinishedAt?.push(report.finishedAt);
          setStats({ ...current, stepMs: [...current.stepMs] });
        },
      );
      setStats({ ...current, totalMs: result.totalMs, sessionMs: result.sessionMs });
      setOutcome({ kind: 'done', text: `${batch} × ${name} in ${(result.totalMs / 1000).toFixed(2)} s` });
      if (hook) {
        hook.samples = Array.from(result.x);
        hook.evaluationMs = result.evaluationMs;
        hook.totalMs = result.totalMs;
      }
    } catch (failure) {
      if (failure instanceof GenerationStopped)
        setOutcome({ kind: 'stopped', step: failure.step, steps: failure.steps });
      else setOutcome({ kind: 'failed', message: messageOf(failure) });
    } finally {
      setRunning(false);
    }
  }

  async function save(index: number, scale: number): Promise<void> {
    const image = images[index];
    if (!image) return;
    const fileName = `${className ?? 'sample'}-seed${seed}-${index + 1}-${image.width * scale}px.png`;
    downloadBlob(await encodePng(image, scale), fileName.replace(/\s+/g, '_'));
  }

  return { images, className, progress, running, outcome, stats, generate, stop: () => engine?.cancel(), save };
}
