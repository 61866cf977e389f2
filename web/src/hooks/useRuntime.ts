/**
 * Everything the views need from the runtime: the manifest, every model read (from the browser's
 * cache, else the network) and checked, and an engine whose sessions are loaded. Changing the
 * backend or the thread count starts a fresh engine from the bytes already read.
 */

import { useEffect, useRef, useState } from 'react';
import { Engine, type BackendChoice, type EngineInfo, type EngineSettings, type LoadResult } from '../engine';
import { messageOf } from '../errors';
import { DEFAULT_BATCH } from '../generateForm';
import { fetchManifest, type ModelEntry, type Sampling } from '../manifest';
import { loadModelBytes, openModelStore, pruneModelStore } from '../modelCache';
import type { Aspect } from '../preprocess';

export interface ModelState {
  entry: ModelEntry;
  received: number;
  bytes?: ArrayBuffer;
  /** Milliseconds to read and check the bytes, and where they came from. */
  fetchMs?: number;
  from?: 'cache' | 'network';
  cacheNote?: string;
  /** Session creation in the current engine. */
  load?: LoadResult;
  error?: string;
}

export interface Runtime {
  /** The manifest could not be read: nothing else can happen. */
  manifestError?: string;
  models: ModelState[];
  /** How to sample by default, as the manifest says; absent until it is read, or if it says nothing. */
  sampling?: Sampling;
  /** How photos become square for the classifiers, as their training images did. */
  aspect: Aspect;
  settings: EngineSettings;
  setSettings: (settings: EngineSettings) => void;
  info?: EngineInfo;
  engineError?: string;
  /** Set once every model that could be read has a session. */
  engine?: Engine;
  /** Milliseconds from the start of the page's navigation until the engine was ready. */
  readyMs?: number;
}

const MODELS_URL = new URL('models/', document.baseURI).href;
const ORT_URL = new URL('ort/', document.baseURI).href;
export const MAX_THREADS = Math.max(1, navigator.hardwareConcurrency || 1);

/** Settings from the address (?backend=wasm&threads=1), else WebGPU if offered and up to four threads. */
function initialSettings(): EngineSettings {
  const query = new URLSearchParams(location.search);
  const backend = query.get('backend');
  const threads = Number(query.get('threads'));
  return {
    backend: backend === 'wasm' || backend === 'webgpu' ? (backend as BackendChoice) : 'auto',
    threads: Number.isInteger(threads) && threads >= 1 ? threads : Math.min(MAX_THREADS, 4),
  };
}

export function useRuntime(): Runtime {
  const [manifestError, setManifestError] = useState<string>();
  const [models, setModels] = useState<ModelState[]>([]);
  const [sampling, setSampling] = useState<Sampling>();
  const [aspect, setAspect] = useState<Aspect>('squash');
  const [fetched, setFetched] = useState(false);
  const [settings, setSettings] = useState(initialSettings);
  const [info, setInfo] = useState<EngineInfo>();
  const [engineError, setEngineError] = useState<string>();
  const [engine, setEngine] = useState<Engine>();
  const [readyMs, setReadyMs] = useState<number>();
  const modelsRef = useRef(models);
  modelsRef.current = models;

  const update = (id: string, change: Partial<ModelState>): void =>
    setModels((all) => all.map((model) => (model.entry.id === id ? { ...model, ...change } : model)));

  useEffect(() => {
    (async () => {
      let entries: ModelEntry[];
      try {
        const manifest = await fetchManifest(MODELS_URL);
        entries = manifest.models;
        setSampling(manifest.sampling);
        setAspect(manifest.aspect ?? 'squash');
      } catch (error) {
        setManifestError(messageOf(error));
        return;
      }
      setModels(entries.map((entry) => ({ entry, received: 0 })));
      const { store, note } = await openModelStore();
      await Promise.all(
        entries.map(async (entry) => {
          const start = performance.now();
          try {
            const read = await loadModelBytes(MODELS_URL, entry, store, (received) => update(entry.id, { received }));
            const fetchMs = performance.now() - start;
            update(entry.id, { bytes: read.bytes, fetchMs, from: read.from, cacheNote: read.note ?? note });
          } catch (error) {
            update(entry.id, { error: messageOf(error) });
          }
        }),
      );
      if (store) await pruneModelStore(MODELS_URL, entries, store).catch(() => undefined);
      setFetched(true);
    })();
  }, []);

  useEffect(() => {
    if (!fetched) return;
    let live = true;
    let started: Engine | undefined;
    setEngine(undefined);
    setInfo(undefined);
    setEngineError(undefined);
    (async () => {
      try {
        const { engine: fresh, info: freshInfo } = await Engine.start(settings, ORT_URL);
        started = fresh;
        if (!live) return fresh.terminate();
        setInfo(freshInfo);
        for (const model of modelsRef.current) {
          if (!model.bytes) continue;
          update(model.entry.id, { load: undefined });
          try {
            const batch = model.entry.role === 'generator' ? DEFAULT_BATCH : 1;
            const load = await fresh.load(model.entry, model.bytes, batch);
            if (live) update(model.entry.id, { load });
          } catch (error) {
            if (live) update(model.entry.id, { error: messageOf(error) });
          }
        }
        if (!live) return;
        setEngine(fresh);
        setReadyMs((first) => first ?? performance.now());
      } catch (error) {
        if (live) setEngineError(messageOf(error));
      }
    })();
    return () => {
      live = false;
      started?.terminate();
    };
  }, [fetched, settings]);

  return { manifestError, models, sampling, aspect, settings, setSettings, info, engineError, engine, readyMs };
}
