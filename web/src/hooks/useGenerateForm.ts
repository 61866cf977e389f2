/**
 * The Generate form's state: the generator, each number field's text as typed, its error, and
 * the values once all are valid. The manifest's sampling record sets the starting values.
 */

import { useEffect, useState } from 'react';
import { DEFAULT_GUIDANCE_INTERVAL, NUMBER_FIELDS, parseNumber, textsFor, type NumberKey } from '../generateForm';
import type { Sampling } from '../manifest';
import type { Solver } from '../sampler';

export interface FieldState {
  text: string;
  error?: string;
}

export interface GenerateValues {
  label: number;
  guidance: number;
  guidanceInterval: [number, number];
  steps: number;
  shift: number;
  seed: number;
  batch: number;
  solver: Solver;
}

export interface GenerateForm {
  /** The generator entry's id; undefined: the first the manifest lists. */
  generator?: string;
  setGenerator: (id: string) => void;
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
const fieldsFor = (sampling?: Sampling): Record<NumberKey, FieldState> => {
  const texts = textsFor(sampling);
  return Object.fromEntries(KEYS.map((key) => [key, { text: texts[key] }])) as Record<NumberKey, FieldState>;
};

export function useGenerateForm(sampling?: Sampling): GenerateForm {
  const [generator, setGenerator] = useState<string>();
  const [label, setLabel] = useState(0);
  const [solver, setSolver] = useState<Solver>('euler');
  const [fields, setFields] = useState(() => fieldsFor(sampling));

  // The manifest arrives before any model is loaded, so before anything can be generated
  useEffect(() => {
    if (!sampling) return;
    setGenerator(sampling.generator);
    setSolver(sampling.solver);
    setFields(fieldsFor(sampling));
  }, [sampling]);

  const setText = (key: NumberKey, text: string, unreadable: boolean): void =>
    setFields((all) => ({ ...all, [key]: { text, error: parseNumber(NUMBER_FIELDS[key], text, unreadable).error } }));

  const parsed = Object.fromEntries(KEYS.map((key) => [key, parseNumber(NUMBER_FIELDS[key], fields[key].text)]));
  const valid = KEYS.every((key) => fields[key].error === undefined && parsed[key].value !== undefined);
  const values: GenerateValues | undefined = valid
    ? {
        label,
        solver,
        guidance: parsed.guidance.value!,
        guidanceInterval: sampling?.guidance_interval ?? DEFAULT_GUIDANCE_INTERVAL,
        steps: parsed.steps.value!,
        shift: parsed.shift.value!,
        seed: parsed.seed.value!,
        batch: parsed.batch.value!,
      }
    : undefined;

  return {
    generator,
    setGenerator,
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
