import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fetchManifest, fetchModel, parseManifest, verifyModel, type ModelEntry } from '../src/manifest';

const BASE = 'http://app.test/models/';
const model = new Uint8Array([8, 6, 7, 5, 3, 0, 9]).buffer;

function entry(bytes: ArrayBuffer, overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id: 'resnet8',
    file: 'resnet8.onnx',
    source: 'models/resnet8.onnx',
    precision: 'fp32',
    bytes: bytes.byteLength,
    sha256: createHash('sha256').update(new Uint8Array(bytes)).digest('hex'),
    role: 'classifier',
    class_names: ['cat', 'dog'],
    input_names: ['input'],
    output_name: 'probabilities',
    image_size: 32,
    channels: 3,
    layout: 'NHWC',
    input_range: [0, 255],
    ...overrides,
  };
}

/** A fetch that serves the given files and 404s everything else. */
function serve(files: Record<string, BodyInit>): typeof fetch {
  return async (input) => {
    const name = String(input).slice(BASE.length);
    return name in files ? new Response(files[name]) : new Response('not found', { status: 404 });
  };
}

describe('verifyModel', () => {
  it('accepts the bytes the manifest describes', async () => {
    await expect(verifyModel(entry(model), model)).resolves.toBeUndefined();
  });

  it('calls a file of another size or digest stale and says how to refresh it', async () => {
    const other = new Uint8Array([8, 6, 7, 5, 3, 0, 1]).buffer;
    await expect(verifyModel(entry(model), other)).rejects.toThrow(
      /resnet8\.onnx does not match the manifest \(sha256/,
    );
    await expect(verifyModel(entry(model), other)).rejects.toThrow('run `dvc repro` first, then `npm run models`');
    await expect(verifyModel(entry(model), new ArrayBuffer(3))).rejects.toThrow(/3 bytes, expected 7/);
  });
});

describe('fetchModel', () => {
  it('downloads, reports progress and verifies', async () => {
    const seen: number[] = [];
    const bytes = await fetchModel(BASE, entry(model), (n) => seen.push(n), serve({ 'resnet8.onnx': model }));
    expect(new Uint8Array(bytes)).toEqual(new Uint8Array(model));
    expect(seen.at(-1)).toBe(7);
  });

  it('names a model the manifest lists but the server lacks', async () => {
    await expect(fetchModel(BASE, entry(model), undefined, serve({}))).rejects.toThrow(
      /models\/resnet8\.onnx is missing \(HTTP 404\).*dvc repro/,
    );
  });

  it('takes an HTML fallback page for a missing file, not for the model', async () => {
    const html = async () => new Response('<html></html>', { headers: { 'content-type': 'text/html' } });
    await expect(fetchModel(BASE, entry(model), undefined, html)).rejects.toThrow(
      /is missing \(the server sent a web page instead\)/,
    );
  });
});

describe('manifest', () => {
  it('parses what the bundle script writes', async () => {
    const manifest = { models: [entry(model)] };
    const fetched = await fetchManifest(BASE, serve({ 'manifest.json': JSON.stringify(manifest) }));
    expect(fetched.models[0].class_names).toEqual(['cat', 'dog']);
  });

  it('says no models are bundled when the manifest is absent', async () => {
    await expect(fetchManifest(BASE, serve({}))).rejects.toThrow(
      /not found \(HTTP 404\): no models are bundled; run `dvc repro` first/,
    );
  });

  it('names the model and fields that are wrong', () => {
    const bad = { ...entry(model), layout: 'HWC', class_names: [] };
    expect(() => parseManifest({ models: [bad] })).toThrow(
      /model resnet8 has a missing or invalid class_names, layout/,
    );
    expect(() => parseManifest({ models: [{ ...entry(model), file: '../secret' }] })).toThrow(/invalid file/);
    expect(() => parseManifest({})).toThrow(/no "models" list/);
  });

  it('takes the sampling record and names what is wrong in it', () => {
    const generator = entry(model, { id: 'dit', role: 'generator', input_names: ['x', 't', 'y', 'guidance_scale'] });
    delete generator.input_range;
    generator.value_range = [-1, 1];
    const sampling = {
      generator: 'dit',
      solver: 'euler',
      steps: 8,
      guidance_scale: 6,
      guidance_interval: [0, 1],
      time_shift: 1,
      source: 'reports/app_sampling.json',
    };
    expect(parseManifest({ models: [generator], sampling }).sampling).toEqual(sampling);
    expect(parseManifest({ models: [generator] }).sampling).toBeUndefined();
    const wrong = { ...sampling, generator: 'dit_int8', steps: 0, guidance_interval: [0.9, 0.1] };
    expect(() => parseManifest({ models: [generator], sampling: wrong })).toThrow(
      /sampling has a missing or invalid generator, steps, guidance_interval/,
    );
    expect(() => parseManifest({ models: [generator], sampling: 'fast' })).toThrow(/sampling has a missing or invalid/);
  });

  it('takes the aspect policy, and refuses one the pipeline does not know', () => {
    expect(parseManifest({ models: [entry(model)], aspect: 'center_crop' }).aspect).toBe('center_crop');
    expect(parseManifest({ models: [entry(model)] }).aspect).toBeUndefined(); // the app then squashes
    expect(() => parseManifest({ models: [entry(model)], aspect: 'crop' })).toThrow(
      /aspect is "crop", not one of squash, center_crop, pad/,
    );
  });

  it('takes output_kind, family and label when given, and refuses an unknown output_kind', () => {
    const trained = { ...entry(model), output_kind: 'logits', family: 'trained', label: 'Trained fp32' };
    expect(parseManifest({ models: [trained] }).models[0]).toMatchObject({ output_kind: 'logits', family: 'trained' });
    expect(() => parseManifest({ models: [{ ...entry(model), output_kind: 'scores' }] })).toThrow(
      /model resnet8 has a missing or invalid output_kind/,
    );
  });
});
