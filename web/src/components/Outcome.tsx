import type { Outcome as Result } from '../hooks/useGenerator';

/** How the last generation ended: done, stopped at a step, or failed. */
export function Outcome({ outcome }: { outcome?: Result }) {
  if (!outcome) return null;
  if (outcome.kind === 'failed') {
    return (
      <p className="error" role="alert">
        Generation failed: {outcome.message}
      </p>
    );
  }
  return (
    <p className="status" role="status">
      {outcome.kind === 'done' ? outcome.text : `Stopped at step ${outcome.step} of ${outcome.steps}`}
    </p>
  );
}
