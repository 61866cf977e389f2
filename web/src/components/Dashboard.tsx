import type { BackendChoice } from '../engine';
import { Field } from './Field';
import { EVALUATIONS_PER_STEP } from '../sampler';
import { MAX_THREADS, type Runtime } from '../useRuntime';
import type { ClassificationStats } from './ClassifyPanel';
import type { GenerationStats } from './GeneratePanel';

interface Props {
  runtime: Runtime;
  generation?: GenerationStats;
  classification?: ClassificationStats;
}

const megabytes = (bytes: number): string =>
  bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(0)} kB`;
const ms = (value?: number): string => (value === undefined ? '–' : `${value.toFixed(value < 10 ? 2 : 0)} ms`);
const median = (values: number[]): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** Runtime settings, model sizes and load times, and the latency of the last runs. */
export function Dashboard({ runtime, generation, classification }: Props) {
  const { info, settings, setSettings, models } = runtime;
  const totalMs = generation?.totalMs;
  return (
    <div className="dashboard">
      <h2>Runtime</h2>
      <div className="controls compact">
        <Field label="Backend">
          <select
            value={settings.backend}
            onChange={(e) => setSettings({ ...settings, backend: e.target.value as BackendChoice })}
          >
            <option value="auto">Auto (WebGPU if offered)</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">wasm (CPU)</option>
          </select>
        </Field>
        <Field label="Threads">
          <select
            value={settings.threads}
            onChange={(e) => setSettings({ ...settings, threads: Number(e.target.value) })}
          >
            {Array.from({ length: MAX_THREADS }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <dl className="facts">
        <dt>Backend in use</dt>
        <dd data-testid="backend">{info ? info.backend : 'starting…'}</dd>
        <dt>wasm threads</dt>
        <dd data-testid="threads">{info ? info.threads : '–'}</dd>
        <dt>Cross-origin isolated</dt>
        <dd>{info ? (info.crossOriginIsolated ? 'yes' : 'no') : '–'}</dd>
        <dt>ONNX Runtime Web</dt>
        <dd>{info?.ortVersion ?? '–'}</dd>
      </dl>
      {info?.note && <p className="note">{info.note}</p>}
      {runtime.engineError && (
        <p className="error" role="alert">
          {runtime.engineError}
        </p>
      )}

      <h2>Models</h2>
      <table className="models">
        <thead>
          <tr>
            <th>file</th>
            <th className="number">size</th>
            <th className="number">fetch</th>
            <th className="number">session</th>
            <th>on</th>
          </tr>
        </thead>
        <tbody>
          {models.map(({ entry, received, fetchMs, load, error }) => (
            <tr key={entry.id} className={error ? 'failed' : undefined}>
              <td title={`${entry.role}, ${entry.precision}, from ${entry.source}`}>{entry.file}</td>
              <td className="number">{megabytes(entry.bytes)}</td>
              <td className="number">
                {fetchMs !== undefined || error ? ms(fetchMs) : `${Math.floor((100 * received) / entry.bytes)}%`}
              </td>
              <td className="number">{ms(load?.ms)}</td>
              <td>{error ? 'error' : (load?.backend ?? '…')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {models.flatMap(({ load }) =>
        load?.note
          ? [
              <p className="note" key={load.note}>
                {load.note}
              </p>,
            ]
          : [],
      )}

      <h2>Last generation</h2>
      {generation ? (
        <dl className="facts">
          <dt>batch × steps</dt>
          <dd>
            {generation.batch} × {generation.steps} {generation.solver} (
            {generation.steps * EVALUATIONS_PER_STEP[generation.solver]} evaluations)
          </dd>
          <dt>per step (median)</dt>
          <dd data-testid="step-latency">{ms(median(generation.stepMs))}</dd>
          <dt>total</dt>
          <dd>
            {totalMs === undefined ? `running, step ${generation.stepMs.length}` : `${(totalMs / 1000).toFixed(2)} s`}
          </dd>
          <dt>images/s</dt>
          <dd>{totalMs === undefined ? '–' : (generation.batch / (totalMs / 1000)).toFixed(2)}</dd>
        </dl>
      ) : (
        <p className="muted">None yet.</p>
      )}

      <h2>Last classification</h2>
      {classification ? (
        <dl className="facts">
          <dt>model</dt>
          <dd>{classification.model}</dd>
          <dt>latency</dt>
          <dd>{ms(classification.ms)}</dd>
        </dl>
      ) : (
        <p className="muted">None yet.</p>
      )}
    </div>
  );
}
