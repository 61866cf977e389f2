import type { Runtime } from '../hooks/useRuntime';
import type { ClassificationStats, GenerationStats } from '../types';
import { LastRuns } from './LastRuns';
import { ModelsTable } from './ModelsTable';
import { RuntimeSettings } from './RuntimeSettings';

interface Props {
  runtime: Runtime;
  generation?: GenerationStats;
  classification?: ClassificationStats;
}

/** Runtime settings, model sizes and load times, and the latency of the last runs. */
export function Dashboard({ runtime, generation, classification }: Props) {
  return (
    <div className="dashboard">
      <RuntimeSettings runtime={runtime} />
      <ModelsTable runtime={runtime} />
      <LastRuns generation={generation} classification={classification} />
    </div>
  );
}
