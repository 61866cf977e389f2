import { useState } from 'react';
import { ClassifyPanel } from './components/ClassifyPanel';
import { Dashboard } from './components/Dashboard';
import { GeneratePanel } from './components/GeneratePanel';
import { Header } from './components/Header';
import { Tabs } from './components/Tabs';
import { useClassifier } from './hooks/useClassifier';
import { useGenerateForm } from './hooks/useGenerateForm';
import { useGenerator } from './hooks/useGenerator';
import { useRuntime } from './hooks/useRuntime';

type View = 'generate' | 'classify';

export function App() {
  const runtime = useRuntime();
  // Listed while they load; the engine (and so every button) arrives once all are loaded
  const usable = runtime.models.filter((model) => !model.error).map((model) => model.entry);
  const generators = usable.filter((entry) => entry.role === 'generator');
  const form = useGenerateForm(runtime.sampling);
  const generator = generators.find((entry) => entry.id === form.generator) ?? generators[0];
  const generation = useGenerator(runtime.engine, generator);
  const classification = useClassifier(runtime.engine, usable, runtime.aspect);
  const [view, setView] = useState<View>('generate');
  const [focusRequest, setFocusRequest] = useState(0);

  function classifyGenerated(index: number): void {
    classification.pickGenerated(`generated ${generation.className} #${index + 1}`, generation.images[index]);
    setView('classify');
    setFocusRequest((count) => count + 1); // the clicked image is hidden now: focus goes to the result
  }

  const views = [
    {
      id: 'generate' as const,
      label: 'Generate',
      panel: (
        <GeneratePanel
          generator={generator}
          generators={generators}
          form={form}
          run={generation}
          ready={!!runtime.engine}
          onPick={classifyGenerated}
        />
      ),
    },
    { id: 'classify' as const, label: 'Classify', panel: <ClassifyPanel run={classification} /> },
  ];
  return (
    <div className="app">
      <Header runtime={runtime} />
      <main>
        <section className="workspace">
          <Tabs views={views} selected={view} onSelect={setView} focusRequest={focusRequest} />
        </section>
        <aside>
          <Dashboard runtime={runtime} generation={generation.stats} classification={classification.stats} />
        </aside>
      </main>
    </div>
  );
}
