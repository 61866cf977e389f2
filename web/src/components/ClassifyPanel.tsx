import type { Classifier } from '../hooks/useClassifier';
import { Field } from './Field';
import { ImageChooser } from './ImageChooser';
import { PixelCanvas } from './PixelCanvas';
import { Ranking } from './Ranking';

/** An image (a file, or a generated one) in; the chosen classifier's top classes out. */
export function ClassifyPanel({ run }: { run: Classifier }) {
  const { groups, classifier, picked, busy, error, result } = run;
  if (groups.length === 0) return <p className="muted panel">No classifier is available; see the models table.</p>;
  const input = picked && classifier ? picked.inputs[classifier.image_size] : undefined;
  return (
    <div className="panel">
      <div className="controls wide">
        <Field label="Classifier">
          <select value={classifier?.id} onChange={(e) => run.choose(e.target.value)}>
            {groups.map(({ family, models }) => (
              <optgroup key={family} label={family}>
                {models.map(({ entry, label }) => (
                  <option key={entry.id} value={entry.id}>
                    {label} · {entry.file}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </Field>
      </div>
      <ImageChooser onFile={run.openFile} />
      <p className="busy" role="status" aria-live="polite" aria-busy={busy !== undefined}>
        {busy && <span className="spinner" aria-hidden="true" />}
        {busy}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {picked && (
        <div className="classify-result">
          <div className="inputs">
            <figure>
              <PixelCanvas image={picked.preview} size={128} label={`input ${picked.name}`} />
              <figcaption>
                {picked.name} ({picked.width}×{picked.height})
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
          {result && <Ranking result={result} />}
        </div>
      )}
    </div>
  );
}
