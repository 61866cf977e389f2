import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ModelEntry } from '../src/manifest';
import { cacheKey, loadModelBytes, pruneModelStore, type ModelStore } from '../src/modelCache';

const BASE = 'http://app.test/models/';
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function entry(bytes: Uint8Array, file = 'dit.onnx'): ModelEntry {
  return {
    id: file.replace('.onnx', ''),
    file,
    source: `models/${file}`,
    precision: 'fp32',
    bytes: bytes.byteLength,
    sha256: sha(bytes),
    role: 'classifier',
    class_names: ['a', 'b'],
    input_names: ['input'],
    output_name: 'out',
    image_size: 32,
    channels: 3,
    layout: 'NHWC',
    input_range: [0, 255],
  };
}

/** A Cache Storage stand-in over a Map. */
function memoryStore(): ModelStore & { entries: Map<string, Uint8Array> } {
  const entries = new Map<string, Uint8Array>();
  return {
    entries,
    match: async (key) => (entries.has(key) ? new Response(entries.get(key)!.slice()) : undefined),
    put: async (key, response) => void entries.set(key, new Uint8Array(await response.arrayBuffer())),
    delete: async (key) => entries.delete(key),
    keys: async () => [...entries.keys()].map((url) => ({ url })),
  };
}

/** A fetch serving `files`, counting requests. */
function server(files: Record<string, Uint8Array>) {
  const requests: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL) => {
    const name = String(input).slice(BASE.length);
    requests.push(name);
    return name in files ? new Response(files[name].slice()) : new Response('gone', { status: 404 });
  }) as typeof fetch;
  return { requests, fetchFn };
}

const model = new Uint8Array([1, 2, 3, 4, 5]);

describe('loadModelBytes', () => {
  it('downloads once, then reads the stored copy', async () => {
    const store = memoryStore();
    const { requests, fetchFn } = server({ 'dit.onnx': model });
    const first = await loadModelBytes(BASE, entry(model), store, undefined, fetchFn);
    const second = await loadModelBytes(BASE, entry(model), store, undefined, fetchFn);
    expect([first.from, second.from]).toEqual(['network', 'cache']);
    expect(new Uint8Array(second.bytes)).toEqual(model);
    expect(requests).toEqual(['dit.onnx']);
  });

  it('fetches a model whose sha256 changed instead of using the old copy', async () => {
    const store = memoryStore();
    await loadModelBytes(BASE, entry(model), store, undefined, server({ 'dit.onnx': model }).fetchFn);
    const retrained = new Uint8Array([9, 9, 9]);
    const { requests, fetchFn } = server({ 'dit.onnx': retrained });
    const read = await loadModelBytes(BASE, entry(retrained), store, undefined, fetchFn);
    expect(read.from).toBe('network');
    expect(new Uint8Array(read.bytes)).toEqual(retrained);
    expect(requests).toEqual(['dit.onnx']);
  });

  it('discards a stored copy that fails its checksum and fetches the model again', async () => {
    const store = memoryStore();
    store.entries.set(cacheKey(BASE, entry(model)), new Uint8Array([6, 6, 6, 6, 6]));
    const { requests, fetchFn } = server({ 'dit.onnx': model });
    const read = await loadModelBytes(BASE, entry(model), store, undefined, fetchFn);
    expect(read).toMatchObject({ from: 'network', note: 'the cached copy failed its checksum and was replaced' });
    expect(requests).toEqual(['dit.onnx']);
    expect(store.entries.get(cacheKey(BASE, entry(model)))).toEqual(model);
  });

  it('works without a store', async () => {
    const read = await loadModelBytes(BASE, entry(model), undefined, undefined, server({ 'dit.onnx': model }).fetchFn);
    expect(read.from).toBe('network');
  });
});

describe('pruneModelStore', () => {
  it('deletes what no manifest entry names', async () => {
    const store = memoryStore();
    const old = new Uint8Array([7]);
    await loadModelBytes(BASE, entry(old), store, undefined, server({ 'dit.onnx': old }).fetchFn);
    await loadModelBytes(BASE, entry(model), store, undefined, server({ 'dit.onnx': model }).fetchFn);
    await pruneModelStore(BASE, [entry(model)], store);
    expect([...store.entries.keys()]).toEqual([cacheKey(BASE, entry(model))]);
  });
});
