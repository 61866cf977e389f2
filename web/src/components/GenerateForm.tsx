import type { GenerateForm as Form } from '../hooks/useGenerateForm';
import { NUMBER_FIELDS, type NumberKey } from '../generateForm';
import type { ModelEntry } from '../manifest';
import { EVALUATIONS_PER_STEP, type Solver } from '../sampler';
import { Field, NumberField } from './Field';

interface Props {
  form: Form;
  generators: ModelEntry[];
  classNames: string[];
  ready: boolean;
  running: boolean;
  onGenerate: () => void;
  onStop: () => void;
}

/** Generator, class, guidance, steps, solver, time shift, seed and batch; one button that generates, and stops while running. */
export function GenerateForm({ form, generators, classNames, ready, running, onGenerate, onStop }: Props) {
  const number = (key: NumberKey, step: number | 'any', extra?: React.ReactElement) => (
    <NumberField
      {...NUMBER_FIELDS[key]}
      step={step}
      text={form.fields[key].text}
      error={form.fields[key].error}
      onText={(text, unreadable) => form.setText(key, text, unreadable)}
      extra={extra}
    />
  );
  const steps = form.values?.steps;
  return (
    <form
      className="controls"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        if (!running) onGenerate();
      }}
    >
      {generators.length > 1 && (
        <Field label="Generator">
          <select value={form.generator ?? generators[0].id} onChange={(e) => form.setGenerator(e.target.value)}>
            {generators.map((entry) => (
              <option key={entry.id} value={entry.id}>
                {entry.label ?? entry.id}
              </option>
            ))}
          </select>
        </Field>
      )}
      <Field label="Class">
        <select value={form.label} onChange={(e) => form.setLabel(Number(e.target.value))}>
          {classNames.map((name, index) => (
            <option key={name} value={index}>
              {name}
            </option>
          ))}
        </select>
      </Field>
      {number('guidance', 'any')}
      {number('steps', 1)}
      <Field label="Solver">
        <select value={form.solver} onChange={(e) => form.setSolver(e.target.value as Solver)}>
          <option value="euler">Euler</option>
          <option value="heun">Heun</option>
        </select>
      </Field>
      {number('shift', 'any')}
      {number(
        'seed',
        1,
        <button type="button" title="A random seed" aria-label="Random seed" onClick={form.randomSeed}>
          ⟳
        </button>,
      )}
      {number('batch', 1)}
      <div className="actions">
        {/* One button, so that focus stays on it when Generate becomes Stop and back */}
        <button
          type={running ? 'button' : 'submit'}
          className={running ? 'secondary' : 'primary'}
          disabled={!running && (!ready || !form.values)}
          onClick={running ? onStop : undefined}
        >
          {running ? 'Stop' : ready ? 'Generate' : 'Loading models…'}
        </button>
        <span className="muted">
          {steps === undefined
            ? 'Fix the fields above to generate'
            : `${steps * EVALUATIONS_PER_STEP[form.solver]} model evaluations`}
        </span>
      </div>
    </form>
  );
}
