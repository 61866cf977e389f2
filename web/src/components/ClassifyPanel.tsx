import { useEffect, useState } from 'react';
import type { Engine } from '../engine';
import type { ModelEntry } from '../manifest';
import { decodeImage, fitToSize, toTensor, type RgbImage } from '../preprocess';
import { testHook } from '../testHook';
import type { Picked } from './GeneratePanel';
import { Field } from './Field';
import { PixelCanvas } from './PixelCanvas';

export interface ClassificationStats {
  model: string;
  ms: number;
}

interface Props {
  engine?: Engine;
  classifiers: ModelEntry[];
  picked?: Picked;
  onPick: (picked: Picked) => void;
  onStats: (stats: ClassificationStats) => void;
}

interface Result {
  model: string;
  ranked: { name: string; probability: number }[];
}

const TOP = 5;
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** An image (a file, or a generated one) in; the classifier's top classes out. */
export function ClassifyPanel({ engine, classifiers, picked, onPick, onStats }: Props) {
  const [modelId, setModelId] = useState<string>();
  const [result, setResult] = useState<Result>();
  const [input, setInput] = useState<RgbImage>();
  const [error, setError] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const classifier = classifiers.find((entry) => entry.id === modelId) ?? classifiers[0];

  useEffect(() => {
    if (!engine || !classifier || !picked) return;
    let live = true;
    const fitted = fitToSize(picked.image, classifier.image_size);
    setInput(fitted);
    const tensor = toTensor(fitted, classifier.layout, classifier.input_range ?? [0, 255]);
    engine
      .classify(classifier.id, tensor)
      .then(({ probabilities, ms }) => {
        if (!live) return;
        const ranked = Array.from(probabilities, (probability, index) => ({
          name: classifier.class_names[index],
          probability,
        }));
        ranked.sort((a, b) => b.probability - a.probability);
        setResult({ model: classifier.id, ranked });
        setError(undefined);
        onStats({ model: classifier.id, ms });
        const hook = testHook();
        if (hook) {
          hook.probabilities = Array.from(probabilities);
          hook.classifier = classifier.id;
        }
      })
      .catch((failure: unknown) => live && setError(messageOf(failure)));
    return () => {
      live = false;
    };
  }, [engine, classifier, picked]);

  async function open(file: File | undefined): Promise<void> {
    if (!file) return;
    try {
      onPick({ name: file.name, image: await decodeImage(file) });
    } catch {
      setError(`${file.name} is not an image this browser can decode`);
    }
  }

  if (classifiers.length === 0) return <p className="muted">No classifier is available; see the models table.</p>;
  const top = result?.ranked[0];
  return (
    <div className="panel">
      <div className="controls wide">
        <Field label="Classifier">
          <select value={classifier?.id} onChange={(e) => setModelId(e.target.value)}>
            {classifiers.map((entry) => (
              <option key={entry.id} value={entry.id}>
                ResNet-8 {entry.precision} · {entry.file}
              </option>
            ))}
          </select>
        </Field>
      </div>

      <label
        className={`dropzone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          void open(e.dataTransfer.files[0]);
        }}
      >
        <input type="file" accept="image/*" aria-label="Image file" onChange={(e) => void open(e.target.files?.[0])} />
        <strong>Drop an image here</strong> or click to choose a file. Generated images can be sent here too.
      </label>

      {error && (
        <p className="error" role="alert">
          Classification failed: {error}
        </p>
      )}

      {picked && (
        <div className="classify-result">
          <div className="inputs">
            <figure>
              <PixelCanvas image={picked.image} size={128} label={`input ${picked.name}`} />
              <figcaption>
                {picked.name} ({picked.image.width}×{picked.image.height})
              </figcaption>
            </figure>
            {input && classifier && (
              <figure>
                <PixelCanvas image={input} size={128} label="what the classifier sees" />
                <figcaption>
                  model input {classifier.image_size}×{classifier.image_size}
                </figcaption>
              </figure>
            )}
          </div>
          {result && top && (
            <div className="ranking">
              <p className="verdict" data-testid="top-class">
                {top.name} <span>{(top.probability * 100).toFixed(1)}%</span>
              </p>
              <table>
                <tbody>
                  {result.ranked.slice(0, TOP).map(({ name, probability }) => (
                    <tr key={name}>
                      <th scope="row">{name}</th>
                      <td className="bar-cell">
                        <span className="bar" style={{ width: `${Math.max(probability * 100, 0.5)}%` }} />
                      </td>
                      <td className="number">{(probability * 100).toFixed(2)}%</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
