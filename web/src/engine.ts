/**
 * The main thread's handle on ONNX Runtime, which runs in a Web Worker (src/worker.ts) so that
 * sampling never blocks the page. Requests are promises; sampling also reports every step, and a
 * stopped generation rejects with GenerationStopped.
 */

import { createStopFlag, raiseStopFlag, type StopFlag } from './cancel';
import { GenerationStopped } from './errors';
import type { ModelEntry } from './manifest';
import type { Solver } from './sampler';

export type Backend = 'webgpu' | 'wasm';
export type BackendChoice = 'auto' | Backend;

export interface EngineSettings {
  backend: BackendChoice;
  threads: number;
}

export interface EngineInfo {
  /** What sessions try first: WebGPU when the browser offers an adapter, else wasm. */
  backend: Backend;
  threads: number;
  crossOriginIsolated: boolean;
  ortVersion: string;
  /** Why the requested backend or thread count was not used, if it was not. */
  note?: string;
}

export interface LoadResult {
  backend: Backend;
  ms: number;
  /** The batch size the session was made for, when its batch dimension is fixed. */
  batch?: number;
  note?: string;
}

export interface GenerateRequest {
  model: string;
  /** (N, C, H, W) flat. */
  noise: Float32Array;
  shape: [number, number, number, number];
  label: number;
  guidance: number;
  /** The flow times guided; elsewhere the scale is 1. */
  guidanceInterval: [number, number];
  steps: number;
  solver: Solver;
  /** The time grid's shift (1: uniform steps). */
  shift: number;
}

export interface StepReport {
  step: number;
  x: Float32Array;
  /** Milliseconds of the velocity evaluations of this step (one for Euler, two for Heun). */
  evaluationMs: number[];
  /** When the step finished, in milliseconds since the epoch (comparable across threads). */
  finishedAt: number;
}

export interface GenerateResult {
  x: Float32Array;
  evaluationMs: number[];
  totalMs: number;
  /** Milliseconds spent making a session for a new batch size before the first step, if any. */
  sessionMs?: number;
}

export interface ClassifyResult {
  /** The model's output as it is: probabilities or logits, as its manifest entry says. */
  output: Float32Array;
  ms: number;
}

/** What the worker is asked to do. */
export type Command =
  | { type: 'init'; settings: EngineSettings; wasmPaths: string }
  | { type: 'load'; entry: ModelEntry; bytes: ArrayBuffer; batch: number }
  | { type: 'generate'; request: GenerateRequest; stop: StopFlag }
  | { type: 'classify'; model: string; pixels: Float32Array }
  | { type: 'cancel' };

/** What the worker answers: one reply per command (by id), and step reports while sampling. */
export type Reply =
  | { id: number; type: 'ok'; result: unknown }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'stopped'; step: number; steps: number }
  | { id: number; type: 'step'; report: StepReport };

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Engine {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, Waiting>();
  private readonly stepListeners = new Map<number, (report: StepReport) => void>();
  private stopFlag?: StopFlag;

  private constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }: MessageEvent<Reply>) => {
      if (data.type === 'step') return this.stepListeners.get(data.id)?.(data.report);
      const waiting = this.pending.get(data.id);
      this.pending.delete(data.id);
      this.stepListeners.delete(data.id);
      if (data.type === 'ok') waiting?.resolve(data.result);
      else if (data.type === 'stopped') waiting?.reject(new GenerationStopped(data.step, data.steps));
      else waiting?.reject(new Error(data.message));
    };
    this.worker.onerror = (event) => {
      this.rejectAll(new Error(`the inference worker failed: ${event.message || 'it could not start'}`));
    };
  }

  /** A fresh worker with its own ONNX Runtime: threads are fixed when the runtime starts. */
  static async start(settings: EngineSettings, wasmPaths: string): Promise<{ engine: Engine; info: EngineInfo }> {
    const engine = new Engine();
    try {
      const info = (await engine.call({ type: 'init', settings, wasmPaths })) as EngineInfo;
      return { engine, info };
    } catch (error) {
      engine.terminate();
      throw error;
    }
  }

  private call(command: Command, onStep?: (report: StepReport) => void): Promise<unknown> {
    const id = this.nextId++;
    if (onStep) this.stepListeners.set(id, onStep);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, command });
    });
  }

  private rejectAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  /** A session for the model; a generator's is made for `batch` images at a time. */
  load(entry: ModelEntry, bytes: ArrayBuffer, batch: number): Promise<LoadResult> {
    return this.call({ type: 'load', entry, bytes, batch }) as Promise<LoadResult>;
  }

  generate(request: GenerateRequest, onStep: (report: StepReport) => void): Promise<GenerateResult> {
    this.stopFlag = createStopFlag();
    return this.call({ type: 'generate', request, stop: this.stopFlag }, onStep) as Promise<GenerateResult>;
  }

  classify(model: string, pixels: Float32Array): Promise<ClassifyResult> {
    return this.call({ type: 'classify', model, pixels }) as Promise<ClassifyResult>;
  }

  /** Stop the running generation before its next step; it rejects with GenerationStopped. */
  cancel(): void {
    if (this.stopFlag) raiseStopFlag(this.stopFlag);
    void this.call({ type: 'cancel' });
  }

  terminate(): void {
    this.worker.terminate();
    this.rejectAll(new Error('the engine was restarted'));
  }
}
