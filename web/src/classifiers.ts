/**
 * The classifiers the manifest lists, grouped by family for the picker, and their outputs as
 * probabilities: an entry whose output_kind is "logits" goes through a softmax.
 */

import type { ModelEntry } from './manifest';

export interface ClassifierGroup {
  family: string;
  models: { entry: ModelEntry; label: string }[];
}

/** The family of an entry: its own field, else its id without a trailing _<precision>. */
export function familyOf(entry: ModelEntry): string {
  if (entry.family) return entry.family;
  const suffix = `_${entry.precision}`;
  return entry.id.endsWith(suffix) ? entry.id.slice(0, -suffix.length) : entry.id;
}

/** What the picker calls an entry: its label, else its precision within its family. */
export function labelOf(entry: ModelEntry): string {
  return entry.label ?? `${familyOf(entry)} ${entry.precision}`;
}

/** Every classifier, grouped by family in the manifest's order; the first of the first group is the default. */
export function groupClassifiers(entries: readonly ModelEntry[]): ClassifierGroup[] {
  const groups: ClassifierGroup[] = [];
  for (const entry of entries) {
    if (entry.role !== 'classifier') continue;
    const family = familyOf(entry);
    let group = groups.find((candidate) => candidate.family === family);
    if (!group) groups.push((group = { family, models: [] }));
    group.models.push({ entry, label: labelOf(entry) });
  }
  return groups;
}

/** softmax over the last axis of a (1, classes) output, in float64 and shifted by the maximum. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const exps = Array.from(logits, (value) => Math.exp(value - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return Float32Array.from(exps, (value) => value / total);
}

/** A classifier's raw output as probabilities, as its manifest entry says to read it. */
export function probabilitiesOf(entry: ModelEntry, output: Float32Array): Float32Array {
  return entry.output_kind === 'logits' ? softmax(output) : output;
}
