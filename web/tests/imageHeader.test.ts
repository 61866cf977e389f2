import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { imageDimensions } from '../src/imageHeader';

// Made by scripts/make_header_fixtures.py with Pillow
const fixture = JSON.parse(readFileSync(new URL('fixtures/headers.json', import.meta.url), 'utf8')) as {
  cases: { format: string; options: string[]; width: number; height: number; head: string }[];
};

describe('imageDimensions', () => {
  it.each(fixture.cases.map((c) => [`${c.format} ${c.options.join(' ')} ${c.width}x${c.height}`, c] as const))(
    'reads the size Pillow wrote into a %s header',
    (_, c) => {
      const head = new Uint8Array(Buffer.from(c.head, 'base64'));
      expect(imageDimensions(head)).toEqual({ width: c.width, height: c.height });
    },
  );

  it('reads nothing from text or a truncated header', () => {
    expect(imageDimensions(new TextEncoder().encode('this is not an image, only some words'))).toBeUndefined();
    const png = new Uint8Array(Buffer.from(fixture.cases[0].head, 'base64'));
    expect(imageDimensions(png.subarray(0, 20))).toBeUndefined();
  });
});
