import { useState } from 'react';
import { ClassifyPanel, type ClassificationStats } from './components/ClassifyPanel';
import { Dashboard } from './components/Dashboard';
import { GeneratePanel, type GenerationStats, type Picked } from './components/GeneratePanel';
import { useRuntime } from './useRuntime';

type View = 'generate' | 'classify';

export function App() {
  const runtime = useRuntime();
  const [view, setView] = useState<View>('generate');
  const [picked, setPicked] = useState<Picked>();
  const [generation, setGeneration] = useState<GenerationStats>();
  const [classification, setClassification] = useState<ClassificationStats>();

  // Listed while they load; the engine (and so every button) arrives once all are loaded
  const usable = runtime.models.filter((model) => !model.error);
  const generator = usable.find((model) => model.entry.role === 'generator')?.entry;
  const classifiers = usable.filter((model) => model.entry.role === 'classifier').map((model) => model.entry);
  const failed = runtime.models.filter((model) => model.error);
  const loading = !runtime.manifestError && !runtime.engine && !runtime.engineError;

  return (
    <div className="app">
      <header>
        <h1>TinyDiT &amp; ResNet-8</h1>
        <p className="subtitle">
          The pipeline's class-conditional generator and CIFAR-10 classifier, running in this browser.
        </p>
        <span className={`pill${runtime.engine ? ' ready' : ''}`} role="status" aria-label="Runtime status">
          {runtime.engine && runtime.info
            ? `ready · ${runtime.info.backend} · ${runtime.info.threads} thread${runtime.info.threads > 1 ? 's' : ''}`
            : loading
              ? 'loading models…'
              : 'not ready'}
        </span>
      </header>

      {runtime.manifestError && (
        <div className="error banner" role="alert">
          <strong>No models.</strong> {runtime.manifestError}
        </div>
      )}
      {failed.map(({ entry, error }) => (
        <div className="error banner" role="alert" key={entry.id}>
          <strong>{entry.file}:</strong> {error}
        </div>
      ))}

      <main>
        <section className="workspace">
          <nav className="tabs" role="tablist">
            {(['generate', 'classify'] as const).map((name) => (
              <button key={name} role="tab" aria-selected={view === name} onClick={() => setView(name)}>
                {name === 'generate' ? 'Generate' : 'Classify'}
              </button>
            ))}
          </nav>
          <div hidden={view !== 'generate'}>
            <GeneratePanel
              engine={runtime.engine}
              generator={generator}
              onStats={setGeneration}
              onPick={(image) => {
                setPicked(image);
                setView('classify');
              }}
            />
          </div>
          <div hidden={view !== 'classify'}>
            <ClassifyPanel
              engine={runtime.engine}
              classifiers={classifiers}
              picked={picked}
              onPick={setPicked}
              onStats={setClassification}
            />
          </div>
        </section>
        <aside>
          <Dashboard runtime={runtime} generation={generation} classification={classification} />
        </aside>
      </main>
    </div>
  );
}
