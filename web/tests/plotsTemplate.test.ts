import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildPlotsTemplate, LIBRARIES, TEMPLATE } from '../scripts/plotsTemplate.mjs';

describe('the offline plots template (.dvc/offline_plots.html)', () => {
  it('is what the script builds from the pinned npm packages: run `npm run plots-template` after changing them', () => {
    const committed = readFileSync(TEMPLATE, 'utf8');
    const built = buildPlotsTemplate();
    expect(committed.length).toBe(built.length);
    expect(committed === built).toBe(true); // one boolean: a diff of 800 kB of minified code says nothing
  });

  it('inlines vega, vega-lite and vega-embed in that order, and links no script', () => {
    const page = buildPlotsTemplate();
    const order = LIBRARIES.map((name) => page.indexOf(`/* ${name}@`));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(page).not.toMatch(/<script[^>]*\bsrc=/);
    expect(page).toContain('{plot_divs}');
    expect(page).not.toContain('{scripts}');
  });
});
