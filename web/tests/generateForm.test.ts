import { describe, expect, it } from 'vitest';
import { NUMBER_FIELDS, parseNumber } from '../src/generateForm';

describe('parseNumber', () => {
  it('reads a value in range as that value', () => {
    expect(parseNumber(NUMBER_FIELDS.guidance, '4.5')).toEqual({ value: 4.5 });
    expect(parseNumber(NUMBER_FIELDS.seed, '4294967295')).toEqual({ value: 4294967295 });
    expect(parseNumber(NUMBER_FIELDS.steps, '1')).toEqual({ value: 1 });
  });

  it('never reads an empty field as 0', () => {
    expect(parseNumber(NUMBER_FIELDS.guidance, '')).toEqual({ error: 'Enter guidance scale: a number from 0 to 20.' });
    expect(parseNumber(NUMBER_FIELDS.steps, '  ').error).toMatch(/^Enter steps/);
  });

  it('refuses a negative seed rather than dropping its sign', () => {
    expect(parseNumber(NUMBER_FIELDS.seed, '-5')).toEqual({
      error: 'Seed must be a whole number from 0 to 4294967295; -5 is out of range.',
    });
  });

  it('refuses out-of-range, fractional and unreadable values', () => {
    expect(parseNumber(NUMBER_FIELDS.steps, '201').error).toMatch(/from 1 to 200; 201 is out of range/);
    expect(parseNumber(NUMBER_FIELDS.batch, '2.5').error).toMatch(/2\.5 is not whole/);
    expect(parseNumber(NUMBER_FIELDS.guidance, '21').error).toMatch(/from 0 to 20; 21 is out of range/);
    expect(parseNumber(NUMBER_FIELDS.batch, '', true).error).toBe('Batch size must be a whole number from 1 to 32.');
  });
});
