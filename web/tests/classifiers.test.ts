import { describe, expect, it } from 'vitest';
import { groupClassifiers, labelOf, probabilitiesOf, softmax } from '../src/classifiers';
import type { ModelEntry } from '../src/manifest';

function entry(id: string, precision: string, overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id,
    file: `${id}.onnx`,
    source: `models/${id}.onnx`,
    precision,
    bytes: 1,
    sha256: '0'.repeat(64),
    role: 'classifier',
    class_names: ['cat', 'dog', 'frog'],
    input_names: ['input'],
    output_name: 'out',
    image_size: 32,
    channels: 3,
    layout: 'NHWC',
    input_range: [0, 255],
    ...overrides,
  };
}

describe('groupClassifiers', () => {
  it('groups by family in manifest order, generators left out', () => {
    const groups = groupClassifiers([
      entry('classifier', 'fp32', { family: 'trained', label: 'Trained fp32', output_kind: 'logits' }),
      entry('dit', 'fp32', { role: 'generator' }),
      entry('resnet8', 'fp32'),
      entry('classifier_int8', 'int8', { family: 'trained', label: 'Trained int8', output_kind: 'logits' }),
      entry('resnet8_int8', 'int8'),
    ]);
    expect(groups.map((group) => [group.family, group.models.map((model) => model.label)])).toEqual([
      ['trained', ['Trained fp32', 'Trained int8']],
      ['resnet8', ['resnet8 fp32', 'resnet8 int8']],
    ]);
  });

  it('falls back to the id, less its precision, for a missing family', () => {
    expect(labelOf(entry('resnet8_fp16', 'fp16'))).toBe('resnet8 fp16');
    expect(labelOf(entry('odd-name', 'int8'))).toBe('odd-name int8');
  });
});

describe('probabilitiesOf', () => {
  it('applies a softmax to logits and keeps probabilities as they are', () => {
    const logits = new Float32Array([2, 1, -1]);
    const expected = [Math.exp(2), Math.exp(1), Math.exp(-1)].map((v, _, all) => v / all.reduce((a, b) => a + b));
    const fromLogits = probabilitiesOf(entry('c', 'fp32', { output_kind: 'logits' }), logits);
    fromLogits.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 7));
    const probabilities = new Float32Array([0.7, 0.2, 0.1]);
    expect(probabilitiesOf(entry('r', 'fp32'), probabilities)).toBe(probabilities);
    expect(probabilitiesOf(entry('r', 'fp32', { output_kind: 'probabilities' }), probabilities)).toBe(probabilities);
  });

  it('stays finite for large logits', () => {
    const p = softmax([1000, 999, -1000]);
    expect(Array.from(p).every(Number.isFinite)).toBe(true);
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 6);
  });
});
