import type { BackendChoice } from '../engine';
import { MAX_THREADS, type Runtime } from '../hooks/useRuntime';
import { Field } from './Field';

/** Backend and thread count, and what the runtime reports about itself. */
export function RuntimeSettings({ runtime }: { runtime: Runtime }) {
  const { info, settings, setSettings, readyMs } = runtime;
  return (
    <>
      <h2>Runtime</h2>
      <div className="controls compact">
        <Field label="Backend">
          <select
            title="Auto: WebGPU where the browser offers it, else wasm"
            value={settings.backend}
            onChange={(e) => setSettings({ ...settings, backend: e.target.value as BackendChoice })}
          >
            <option value="auto">Auto</option>
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
        <dt>Ready after</dt>
        <dd data-testid="ready-time">{readyMs === undefined ? '–' : `${(readyMs / 1000).toFixed(2)} s`}</dd>
      </dl>
      {info?.note && <p className="note">{info.note}</p>}
      {runtime.engineError && (
        <p className="error" role="alert">
          {runtime.engineError}
        </p>
      )}
    </>
  );
}
