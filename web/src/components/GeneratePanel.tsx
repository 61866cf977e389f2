import { useState } from 'react';
import type { Engine } from '../engine';
import type { ModelEntry } from '../manifest';
import type { RgbImage } from '../preprocess';
import { EVALUATIONS_PER_STEP, gaussianNoise, toPixels, type Solver } from '../sampler';
import { testHook } from '../testHook';
import { Field, NumberField } from './Field';
import { PixelCanvas } from './PixelCanvas';

export interface GenerationStats {
  batch: number;
  steps: number;
  solver: Solver;
  /** Per completed step: the milliseconds of its velocity evaluations. */
  stepMs: number[];
  totalMs?: number;
}

export interface Picked {
  name: string;
  image: RgbImage;
}

interface Props {
  engine?: Engine;
  generator?: ModelEntry;
  onStats: (stats: GenerationStats) => void;
  onPick: (picked: Picked) => void;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Class, guidance, steps, solver, seed and batch in; images forming step by step out. */
export function GeneratePanel({ engine, generator, onStats, onPick }: Props) {
  const [label, setLabel] = useState(0);
  const [guidance, setGuidance] = useState(4);
  const [steps, setSteps] = useState(20);
  const [solver, setSolver] = useState<Solver>('euler');
  const [seed, setSeed] = useState(0);
  const [batch, setBatch] = useState(4);
  const [images, setImages] = useState<RgbImage[]>([]);
  const [progress, setProgress] = useState<{ step: number; steps: number }>();
  const [running, setRunning] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string>();

  if (!generator) return <p className="muted">The generator is not available; see the models table.</p>;
  const names = generator.class_names;
  const size = generator.image_size;
  const range = generator.value_range ?? [-1, 1];
  const shape: [number, number, number, number] = [batch, generator.channels, size, size];
  const toImages = (x: Float32Array): RgbImage[] =>
    toPixels(x, shape, range).map((pixels) => ({ width: size, height: size, pixels }));

  async function generate(): Promise<void> {
    if (!engine) return;
    const count = shape.reduce((a, b) => a * b, 1);
    const hook = testHook();
    const noise = hook?.noise ? Float32Array.from(hook.noise) : gaussianNoise(seed, count);
    setRunning(true);
    setError(undefined);
    setStatus('');
    setProgress({ step: 0, steps });
    setImages(toImages(noise));
    const stats: GenerationStats = { batch, steps, solver, stepMs: [] };
    onStats({ ...stats });
    try {
      const result = await engine.generate(
        { model: generator!.id, noise, shape, label, guidance, steps, solver },
        (report) => {
          setImages(toImages(report.x));
          setProgress({ step: report.step, steps });
          stats.stepMs.push(report.evaluationMs.reduce((a, b) => a + b, 0));
          onStats({ ...stats, stepMs: [...stats.stepMs] });
        },
      );
      onStats({ ...stats, totalMs: result.totalMs });
      setStatus(`${batch} × ${names[label]} in ${(result.totalMs / 1000).toFixed(2)} s`);
      if (hook) {
        hook.samples = Array.from(result.x);
        hook.evaluationMs = result.evaluationMs;
      }
    } catch (failure) {
      if (messageOf(failure) === 'stopped') setStatus(`Stopped after step ${stats.stepMs.length} of ${steps}`);
      else setError(messageOf(failure));
    } finally {
      setRunning(false);
    }
  }

  const evaluations = steps * EVALUATIONS_PER_STEP[solver];
  return (
    <div className="panel">
      {/* The inputs' min, max and step are checked by the browser before it submits */}
      <form
        className="controls"
        onSubmit={(event) => {
          event.preventDefault();
          void generate();
        }}
      >
        <Field label="Class">
          <select value={label} onChange={(e) => setLabel(Number(e.target.value))}>
            {names.map((name, index) => (
              <option key={name} value={index}>
                {name}
              </option>
            ))}
          </select>
        </Field>
        <NumberField label="Guidance scale" min={0} max={20} step="any" value={guidance} onChange={setGuidance} />
        <NumberField label="Steps" min={1} max={200} step={1} value={steps} onChange={setSteps} />
        <Field label="Solver">
          <select value={solver} onChange={(e) => setSolver(e.target.value as Solver)}>
            <option value="euler">Euler</option>
            <option value="heun">Heun</option>
          </select>
        </Field>
        <NumberField
          label="Seed"
          min={0}
          max={4294967295}
          step={1}
          value={seed}
          onChange={setSeed}
          extra={
            <button
              type="button"
              title="A random seed"
              aria-label="Random seed"
              onClick={() => setSeed(Math.floor(Math.random() * 2 ** 32))}
            >
              ⟳
            </button>
          }
        />
        <NumberField label="Batch size" min={1} max={32} step={1} value={batch} onChange={setBatch} />
        <div className="actions">
          {running ? (
            <button type="button" className="secondary" onClick={() => engine?.cancel()}>
              Stop
            </button>
          ) : (
            <button type="submit" className="primary" disabled={!engine}>
              {engine ? 'Generate' : 'Loading models…'}
            </button>
          )}
          <span className="muted">{evaluations} model evaluations</span>
        </div>
      </form>

      {progress && (
        <div className="progress-row">
          <progress max={progress.steps} value={progress.step} aria-label="Sampling progress" />
          <span>
            step {progress.step} / {progress.steps}
          </span>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          Generation failed: {error}
        </p>
      )}
      {status && (
        <p className="status" role="status">
          {status}
        </p>
      )}

      {images.length > 0 && (
        <>
          <div className="gallery">
            {images.map((image, index) => (
              <figure key={index}>
                <PixelCanvas
                  image={image}
                  size={128}
                  label={`${names[label]} sample ${index + 1}`}
                  onClick={
                    running ? undefined : () => onPick({ name: `generated ${names[label]} #${index + 1}`, image })
                  }
                />
                <figcaption>#{index + 1}</figcaption>
              </figure>
            ))}
          </div>
          {!running && <p className="muted">Click an image to classify it.</p>}
        </>
      )}
    </div>
  );
}
