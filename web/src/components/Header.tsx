import type { Runtime } from '../hooks/useRuntime';

/** Title, the runtime's status, and a banner per model or manifest that failed. */
export function Header({ runtime }: { runtime: Runtime }) {
  const { engine, info, manifestError, engineError, models } = runtime;
  const loading = !manifestError && !engine && !engineError;
  return (
    <>
      <header>
        <h1>TinyDiT &amp; ResNet-8</h1>
        <p className="subtitle">
          The pipeline's class-conditional generator and its classifiers, running in this browser.
        </p>
        <span className={`pill${engine ? ' ready' : ''}`} role="status" aria-label="Runtime status">
          {engine && info
            ? `ready · ${info.backend} · ${info.threads} thread${info.threads > 1 ? 's' : ''}`
            : loading
              ? 'loading models…'
              : 'not ready'}
        </span>
      </header>
      {manifestError && (
        <div className="error banner" role="alert">
          <strong>No models.</strong> {manifestError}
        </div>
      )}
      {models
        .filter((model) => model.error)
        .map(({ entry, error }) => (
          <div className="error banner" role="alert" key={entry.id}>
            <strong>{entry.file}:</strong> {error}
          </div>
        ))}
    </>
  );
}
