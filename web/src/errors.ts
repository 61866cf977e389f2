/** Errors the app tells apart by type, and the one way an error becomes text for the page. */

/** What the page shows for a failure: an Error's message, else the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A generation stopped on request, after `step` of its `steps` steps. */
export class GenerationStopped extends Error {
  override name = 'GenerationStopped';

  constructor(
    readonly step: number,
    readonly steps: number,
  ) {
    super(`stopped at step ${step} of ${steps}`);
  }
}
