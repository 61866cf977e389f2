import { EVALUATIONS_PER_STEP } from '../sampler';
import type { ClassificationStats, GenerationStats } from '../types';
import { median, milliseconds } from '../format';

interface Props {
  generation?: GenerationStats;
  classification?: ClassificationStats;
}

/** Per-step latency, total time and images/s of the last generation; latency of the last classification. */
export function LastRuns({ generation, classification }: Props) {
  const totalMs = generation?.totalMs;
  return (
    <>
      <h2>Last generation</h2>
      {generation ? (
        <dl className="facts">
          <dt>batch × steps</dt>
          <dd>
            {generation.batch} × {generation.steps} {generation.solver} (
            {generation.steps * EVALUATIONS_PER_STEP[generation.solver]} evaluations)
          </dd>
          <dt>per step (median)</dt>
          <dd data-testid="step-latency">{milliseconds(median(generation.stepMs))}</dd>
          <dt>total</dt>
          <dd>
            {totalMs === undefined ? `running, step ${generation.stepMs.length}` : `${(totalMs / 1000).toFixed(2)} s`}
          </dd>
          <dt>images/s</dt>
          <dd>{totalMs === undefined ? '–' : (generation.batch / (totalMs / 1000)).toFixed(2)}</dd>
          {generation.sessionMs !== undefined && (
            <>
              <dt>session for batch {generation.batch}</dt>
              <dd>{milliseconds(generation.sessionMs)}</dd>
            </>
          )}
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
          <dd>{milliseconds(classification.ms)}</dd>
        </dl>
      ) : (
        <p className="muted">None yet.</p>
      )}
    </>
  );
}
