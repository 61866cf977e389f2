/**
 * The Generate form's number fields: what each accepts, and what a typed text means. A field
 * keeps exactly what was typed; a text that is empty, not a number or out of range is an error
 * to show beside it, and no generation starts until every field reads as a value.
 */

import type { Sampling } from './manifest';

export interface NumberSpec {
  label: string;
  min: number;
  max: number;
  integer: boolean;
}

export const NUMBER_FIELDS = {
  guidance: { label: 'Guidance scale', min: 0, max: 20, integer: false },
  steps: { label: 'Steps', min: 1, max: 200, integer: true },
  seed: { label: 'Seed', min: 0, max: 2 ** 32 - 1, integer: true },
  batch: { label: 'Batch size', min: 1, max: 32, integer: true },
  shift: { label: 'Time shift', min: 0.1, max: 100, integer: false },
} as const satisfies Record<string, NumberSpec>;

export type NumberKey = keyof typeof NUMBER_FIELDS;

/** The generator's sessions are made for this batch first. */
export const DEFAULT_BATCH = 4;

/** What the fields hold until the manifest's sampling record arrives, and where it says nothing. */
export const DEFAULT_TEXTS: Record<NumberKey, string> = {
  guidance: '8',
  steps: '20',
  seed: '0',
  batch: String(DEFAULT_BATCH),
  shift: '1',
};

/** The flow times guidance applies over until the manifest's sampling record says (no field). */
export const DEFAULT_GUIDANCE_INTERVAL: [number, number] = [0.15, 0.8];

/** The fields' texts with the manifest's sampling settings in place of the defaults. */
export function textsFor(sampling?: Sampling): Record<NumberKey, string> {
  if (!sampling) return { ...DEFAULT_TEXTS };
  return {
    ...DEFAULT_TEXTS,
    guidance: String(sampling.guidance_scale),
    steps: String(sampling.steps),
    shift: String(sampling.time_shift),
  };
}

export type Parsed = { value: number; error?: undefined } | { value?: undefined; error: string };

/** What a field's text means; `unreadable` is the browser saying the text is no number at all. */
export function parseNumber(spec: NumberSpec, text: string, unreadable = false): Parsed {
  const range = `${spec.integer ? 'a whole number' : 'a number'} from ${spec.min} to ${spec.max}`;
  if (unreadable) return { error: `${spec.label} must be ${range}.` };
  if (text.trim() === '') return { error: `Enter ${spec.label.toLowerCase()}: ${range}.` };
  const value = Number(text);
  if (!Number.isFinite(value)) return { error: `${spec.label} must be ${range}.` };
  if (spec.integer && !Number.isInteger(value))
    return { error: `${spec.label} must be ${range}; ${text} is not whole.` };
  if (value < spec.min || value > spec.max)
    return { error: `${spec.label} must be ${range}; ${text} is out of range.` };
  return { value };
}
