/**
 * Model bytes kept in the browser's Cache Storage between visits, keyed by the sha256 the manifest
 * gives, so a reload reads them from disk instead of the network. A model whose sha256 changed
 * has another key and is fetched anew; a cached copy that fails its checksum is deleted and
 * fetched anew; entries no manifest model names any more are deleted.
 */

import { messageOf } from './errors';
import { fetchModel, verifyModel, ModelFileError, type ModelEntry } from './manifest';

export const CACHE_NAME = 'tinydit-models';

/** The parts of the Cache Storage API used here (tests pass a fake). */
export interface ModelStore {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
  keys(): Promise<readonly { url: string }[]>;
}

export interface ModelBytes {
  bytes: ArrayBuffer;
  /** Where they came from: the cache, or the network (with why the cache did not serve). */
  from: 'cache' | 'network';
  note?: string;
}

/** The cache key of a model: its file and its sha256, under the models folder. */
export function cacheKey(baseUrl: string, entry: ModelEntry): string {
  return new URL(`${entry.file}?sha256=${entry.sha256}`, baseUrl).href;
}

/** The browser's store, or undefined (with why) where Cache Storage is unavailable. */
export async function openModelStore(): Promise<{ store?: ModelStore; note?: string }> {
  if (!globalThis.caches) return { note: 'this page has no Cache Storage (it needs https or localhost)' };
  try {
    const cache = await caches.open(CACHE_NAME);
    return {
      store: {
        match: (key) => cache.match(key),
        put: (key, response) => cache.put(key, response),
        delete: (key) => cache.delete(key),
        keys: async () => cache.keys(),
      },
    };
  } catch (error) {
    return { note: `Cache Storage refused to open (${messageOf(error)})` };
  }
}

/** The model's bytes, from the store when a copy there passes the checksum, else downloaded and stored. */
export async function loadModelBytes(
  baseUrl: string,
  entry: ModelEntry,
  store: ModelStore | undefined,
  onProgress?: (received: number) => void,
  fetchFn: typeof fetch = fetch,
): Promise<ModelBytes> {
  const key = cacheKey(baseUrl, entry);
  let note: string | undefined;
  const cached = await store?.match(key).catch(() => undefined);
  if (cached) {
    const bytes = await cached.arrayBuffer();
    try {
      await verifyModel(entry, bytes);
      onProgress?.(bytes.byteLength);
      return { bytes, from: 'cache' };
    } catch (error) {
      if (!(error instanceof ModelFileError)) throw error;
      await store!.delete(key);
      note = 'the cached copy failed its checksum and was replaced';
    }
  }
  const bytes = await fetchModel(baseUrl, entry, onProgress, fetchFn);
  try {
    await store?.put(key, new Response(bytes.slice(0), { headers: { 'content-type': 'application/octet-stream' } }));
  } catch (error) {
    note = `not cached (${messageOf(error)})`;
  }
  return { bytes, from: 'network', note };
}

/** Delete stored models that no entry of the manifest names. */
export async function pruneModelStore(
  baseUrl: string,
  entries: readonly ModelEntry[],
  store: ModelStore,
): Promise<void> {
  const wanted = new Set(entries.map((entry) => cacheKey(baseUrl, entry)));
  for (const { url } of await store.keys()) if (!wanted.has(url)) await store.delete(url);
}
