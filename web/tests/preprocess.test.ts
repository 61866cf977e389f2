import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fitToSize, resizeBicubic, rgbaToRgb, toTensor, type Aspect } from '../src/preprocess';

interface ResizeCase {
  width: number;
  height: number;
  source: string;
  out_width: number;
  out_height: number;
  expected: string;
}

// Made by scripts/make_resize_fixtures.py with Pillow
interface AspectCase {
  width: number;
  height: number;
  aspect: Aspect;
  source: string;
  expected: string;
}

const fixture = JSON.parse(readFileSync(new URL('fixtures/resize.json', import.meta.url), 'utf8')) as {
  pillow: string;
  cases: ResizeCase[];
  aspects: AspectCase[];
};
const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));

describe('resizeBicubic', () => {
  it.each(fixture.cases.map((c) => [`${c.width}x${c.height}`, c] as const))(
    'matches Pillow %s -> 32x32 exactly',
    (_, c) => {
      const resized = resizeBicubic(bytes(c.source), c.width, c.height, 3, c.out_width, c.out_height);
      expect(Array.from(resized)).toEqual(Array.from(bytes(c.expected)));
    },
  );

  it('leaves an image of the target size as it is', () => {
    const image = { width: 32, height: 32, pixels: new Uint8Array(32 * 32 * 3).map((_, i) => i % 251) };
    expect(fitToSize(image, 32)).toBe(image);
  });

  it('keeps a flat colour flat at any scale', () => {
    const flat = new Uint8Array(50 * 7 * 3).fill(200);
    expect(new Set(resizeBicubic(flat, 50, 7, 3, 32, 32))).toEqual(new Set([200]));
  });
});

describe('fitToSize', () => {
  it.each(fixture.aspects.map((c) => [`${c.width}x${c.height}`, c.aspect, c] as const))(
    'makes %s square by %s as the pipeline does, byte for byte',
    (_, aspect, c) => {
      const image = { width: c.width, height: c.height, pixels: bytes(c.source) };
      expect(Array.from(fitToSize(image, 32, aspect).pixels)).toEqual(Array.from(bytes(c.expected)));
    },
  );

  it('crops, pads and squashes differently', () => {
    const outputs = fixture.aspects.filter((c) => c.width === 64).map((c) => c.expected);
    expect(new Set(outputs).size).toBe(3);
  });
});

describe('toTensor', () => {
  const image = rgbaToRgb(new Uint8Array([10, 20, 30, 255, 40, 50, 60, 0]), 2, 1);

  it('drops alpha and keeps raw 0..255 values in NHWC', () => {
    expect(Array.from(toTensor(image, 'NHWC', [0, 255]))).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('writes channel planes for NCHW and maps onto another range', () => {
    expect(Array.from(toTensor(image, 'NCHW', [0, 255]))).toEqual([10, 40, 20, 50, 30, 60]);
    expect(toTensor({ width: 1, height: 1, pixels: new Uint8Array([0, 255, 0]) }, 'NHWC', [-1, 1])).toEqual(
      new Float32Array([-1, 1, -1]),
    );
  });
});
