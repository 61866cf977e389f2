/** The Generate form's state: each number field's text as typed, its error, and the values once all are valid. */

import { useState } from 'react';
import { DEFAULT_TEXTS, NUMBER_FIELDS, parseNumber, type NumberKey } from '../generateForm';
import type { Solver } from '../sampler';

export interface FieldState {
  text: string;
  error?: string;
}

export interface GenerateValues {
  label: number;
  guidance: number;
  steps: number;
  seed: number;
  batch: number;
  solver: Solver;
}

export interface GenerateForm {
  label: number;
  setLabel: (label: number) => void;
  solver: Solver;
  setSolver: (solver: Solver) => void;
  fields: Record<NumberKey, FieldState>;
  /** `unreadable`: the browser could not read the typed text as a number at all. */
  setText: (key: NumberKey, text: string, unreadable: boolean) => void;
  randomSeed: () => void;
  /** Undefined while any field is in error: there is nothing to generate with. */
  values?: GenerateValues;
}

const KEYS = Object.keys(NUMBER_FIELDS) as NumberKey[];
const initialFields = (): Record<NumberKey, FieldState> =>
  Object.fromEntries(KEYS.map((key) => [key, { text: DEFAULT_TEXTS[key] }])) as Record<NumberKey, FieldState>;

export function useGenerateForm(): GenerateForm {
  const [label, setLabel] = useState(0);
  const [solver, setSolver] = useState<Solver>('euler');
  const [fields, setFields] = useState(initialFields);

  const setText = (key: NumberKey, text: string, unreadable: boolean): void =>
    setFields((all) => ({ ...all, [key]: { text, error: parseNumber(NUMBER_FIELDS[key], text, unreadable).error } }));

  const parsed = Object.fromEntries(KEYS.map((key) => [key, parseNumber(NUMBER_FIELDS[key], fields[key].text)]));
  const valid = KEYS.every((key) => fields[key].error === undefined && parsed[key].value !== undefined);
  const values: GenerateValues | undefined = valid
    ? {
        label,
        solver,
        guidance: parsed.guidance.value!,
        steps: parsed.steps.value!,
        seed: parsed.seed.value!,
        batch: parsed.batch.value!,
      }
    : undefined;

  return {
    label,
    setLabel,
    solver,
    setSolver,
    fields,
    setText,
    randomSeed: () => setText('seed', String(Math.floor(Math.random() * 2 ** 32)), false),
    values,
  };
}
