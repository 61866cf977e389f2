import type { GenerateForm as Form } from '../hooks/useGenerateForm';
import type { Generator } from '../hooks/useGenerator';
import type { ModelEntry } from '../manifest';
import { Gallery } from './Gallery';
import { GenerateForm } from './GenerateForm';
import { Outcome } from './Outcome';

interface Props {
  generator?: ModelEntry;
  /** Every generator the manifest lists, the one in use among them. */
  generators: ModelEntry[];
  form: Form;
  run: Generator;
  ready: boolean;
  onPick: (index: number) => void;
}

/** Generator, class, guidance, steps, solver, time shift, seed and batch in; images forming step by step out. */
export function GeneratePanel({ generator, generators, form, run, ready, onPick }: Props) {
  if (!generator) return <p className="muted panel">The generator is not available; see the models table.</p>;
  return (
    <div className="panel">
      <GenerateForm
        form={form}
        generators={generators}
        classNames={generator.class_names}
        ready={ready}
        running={run.running}
        onGenerate={() => form.values && void run.generate(form.values)}
        onStop={run.stop}
      />
      {run.progress && (
        <div className="progress-row">
          <progress max={run.progress.steps} value={run.progress.step} aria-label="Sampling progress" />
          <span>
            step {run.progress.step} / {run.progress.steps}
          </span>
        </div>
      )}
      <Outcome outcome={run.outcome} />
      {run.images.length > 0 && (
        <Gallery
          images={run.images}
          className={run.className ?? ''}
          running={run.running}
          onPick={onPick}
          onSave={(index, scale) => void run.save(index, scale)}
        />
      )}
    </div>
  );
}
