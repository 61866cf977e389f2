/**
 * The models the app serves: models/manifest.json (written by `python -m tools.web_models` from the
 * pipeline's outputs and their metadata_props), and each model file checked against its sha256.
 */

import { ASPECTS, type Aspect, type Layout } from './preprocess';

export const FIX = 'run `dvc repro` first, then `npm run models`';
export const MANIFEST_FILE = 'manifest.json';

export type Role = 'generator' | 'classifier';
/** What a classifier's output holds; a manifest entry without output_kind gives probabilities. */
export type OutputKind = 'probabilities' | 'logits';
export const OUTPUT_KINDS: readonly OutputKind[] = ['probabilities', 'logits'];

export interface ModelEntry {
  id: string;
  file: string;
  /** Where the pipeline wrote it, relative to the project. */
  source: string;
  precision: string;
  bytes: number;
  sha256: string;
  role: Role;
  class_names: string[];
  input_names: string[];
  output_name: string;
  image_size: number;
  channels: number;
  layout: Layout;
  /** Classifier: the pixel values it takes, e.g. [0, 255]. */
  input_range?: [number, number];
  /** Generator: the pixel values it makes, e.g. [-1, 1]. */
  value_range?: [number, number];
  null_class?: number;
  /** Classifier: probabilities (the default) or raw logits, which the app turns into probabilities. */
  output_kind?: OutputKind;
  /** Classifier: the model family (e.g. the converted ResNet-8, a trained classifier), for grouping. */
  family?: string;
  /** A name for people, e.g. "ResNet-8 int8". */
  label?: string;
}

/** How the app samples by default: the generator and settings `tools.web_models` chose. */
export interface Sampling {
  /** The id of the generator entry to start with. */
  generator: string;
  solver: 'euler' | 'heun';
  steps: number;
  guidance_scale: number;
  /** The flow times guided (0 noise, 1 data); elsewhere the scale is 1. */
  guidance_interval: [number, number];
  time_shift: number;
  /** Where the settings come from, for people: the pipeline's params or the app's sampling report. */
  source: string;
}

export interface Manifest {
  models: ModelEntry[];
  sampling?: Sampling;
  /** How the classifiers' training photos were made square (`data.aspect`); squash where absent. */
  aspect?: Aspect;
}

/** The sampling record's fields that are wrong, if any. */
function samplingErrors(sampling: Record<string, unknown>, models: ModelEntry[]): string[] {
  const generators = models.filter((model) => model.role === 'generator').map((model) => model.id);
  const positive = (value: unknown) => typeof value === 'number' && value > 0;
  const interval = sampling.guidance_interval;
  const checks: [string, boolean][] = [
    ['generator', generators.includes(sampling.generator as string)],
    ['solver', sampling.solver === 'euler' || sampling.solver === 'heun'],
    ['steps', Number.isInteger(sampling.steps) && positive(sampling.steps)],
    ['guidance_scale', typeof sampling.guidance_scale === 'number' && sampling.guidance_scale >= 0],
    ['guidance_interval', isRange(interval) && 0 <= interval[0] && interval[0] < interval[1] && interval[1] <= 1],
    ['time_shift', positive(sampling.time_shift)],
    ['source', typeof sampling.source === 'string'],
  ];
  return checks.filter(([, ok]) => !ok).map(([field]) => field);
}

/** A model or the manifest is missing, stale or malformed; the message says what to do. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');
const isRange = (value: unknown): value is [number, number] =>
  Array.isArray(value) && value.length === 2 && value.every((item) => typeof item === 'number');

/** Check the manifest's shape, naming the first model and field that is wrong. */
export function parseManifest(json: unknown): Manifest {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) throw new ModelFileError(`${MANIFEST_FILE} has no "models" list; ${FIX}`);
  for (const [index, model] of models.entries()) {
    const entry = model as Record<string, unknown>;
    const where = `${MANIFEST_FILE}: model ${typeof entry.id === 'string' ? entry.id : index}`;
    const checks: [string, boolean][] = [
      ['id', typeof entry.id === 'string'],
      ['file', typeof entry.file === 'string' && /^[\w.-]+$/.test(entry.file)],
      ['bytes', Number.isInteger(entry.bytes)],
      ['sha256', typeof entry.sha256 === 'string' && /^[0-9a-f]{64}$/.test(entry.sha256)],
      ['role', entry.role === 'generator' || entry.role === 'classifier'],
      ['class_names', isStringList(entry.class_names) && entry.class_names.length > 0],
      ['input_names', isStringList(entry.input_names)],
      ['output_name', typeof entry.output_name === 'string'],
      ['image_size', Number.isInteger(entry.image_size)],
      ['channels', entry.channels === 3],
      ['layout', entry.layout === 'NHWC' || entry.layout === 'NCHW'],
      [
        entry.role === 'generator' ? 'value_range' : 'input_range',
        isRange(entry.role === 'generator' ? entry.value_range : entry.input_range),
      ],
      [
        'input_names (x, t, y, guidance_scale)',
        entry.role !== 'generator' || (entry.input_names as unknown[]).length === 4,
      ],
      ['output_kind', entry.output_kind === undefined || OUTPUT_KINDS.includes(entry.output_kind as OutputKind)],
      ['family', entry.family === undefined || typeof entry.family === 'string'],
      ['label', entry.label === undefined || typeof entry.label === 'string'],
    ];
    const bad = checks.filter(([, ok]) => !ok).map(([field]) => field);
    if (bad.length > 0) throw new ModelFileError(`${where} has a missing or invalid ${bad.join(', ')}; ${FIX}`);
  }
  const aspect = (json as { aspect?: unknown }).aspect;
  if (aspect !== undefined && !ASPECTS.includes(aspect as Aspect))
    throw new ModelFileError(
      `${MANIFEST_FILE}: aspect is ${JSON.stringify(aspect)}, not one of ${ASPECTS.join(', ')}; ${FIX}`,
    );
  const read = { models: models as ModelEntry[], ...(aspect === undefined ? {} : { aspect: aspect as Aspect }) };
  const sampling = (json as { sampling?: unknown }).sampling;
  if (sampling === undefined) return read;
  const bad =
    typeof sampling === 'object' && sampling ? samplingErrors(sampling as Record<string, unknown>, models) : ['all'];
  if (bad.length > 0)
    throw new ModelFileError(`${MANIFEST_FILE}: sampling has a missing or invalid ${bad.join(', ')}; ${FIX}`);
  return { ...read, sampling: sampling as Sampling };
}

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  if (!globalThis.crypto?.subtle) {
    throw new ModelFileError(
      'checking model checksums needs a secure context: serve the app over https or from localhost',
    );
  }
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throw unless bytes are the file the manifest describes. */
export async function verifyModel(entry: ModelEntry, bytes: ArrayBuffer): Promise<void> {
  const stale = `models/${entry.file} does not match the manifest`;
  if (bytes.byteLength !== entry.bytes) {
    throw new ModelFileError(`${stale} (${bytes.byteLength} bytes, expected ${entry.bytes}): ${FIX}`);
  }
  const digest = await sha256Hex(bytes);
  if (digest !== entry.sha256) {
    throw new ModelFileError(
      `${stale} (sha256 ${digest.slice(0, 12)}…, expected ${entry.sha256.slice(0, 12)}…): ${FIX}`,
    );
  }
}

/** Why a response is not the file asked for (an error status, a host's HTML fallback page), if it is not. */
function notTheFile(response: Response): string | undefined {
  if (!response.ok) return `HTTP ${response.status}`;
  if ((response.headers.get('content-type') ?? '').includes('text/html')) return 'the server sent a web page instead';
  return undefined;
}

export async function fetchManifest(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<Manifest> {
  const url = new URL(MANIFEST_FILE, baseUrl);
  const response = await fetchFn(url, { cache: 'no-cache' });
  const reason = notTheFile(response);
  if (reason)
    throw new ModelFileError(`models/${MANIFEST_FILE} was not found (${reason}): no models are bundled; ${FIX}`);
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    throw new ModelFileError(`models/${MANIFEST_FILE} is not JSON; ${FIX}`);
  }
  return parseManifest(json);
}

/** Download one model, reporting bytes received, and verify it against the manifest. */
export async function fetchModel(
  baseUrl: string,
  entry: ModelEntry,
  onProgress?: (received: number) => void,
  fetchFn: typeof fetch = fetch,
): Promise<ArrayBuffer> {
  const response = await fetchFn(new URL(entry.file, baseUrl), { cache: 'no-cache' });
  const reason = notTheFile(response);
  if (reason)
    throw new ModelFileError(`models/${entry.file} is missing (${reason}) though the manifest lists it: ${FIX}`);
  const reader = response.body?.getReader();
  if (!reader) return verified(entry, await response.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress?.(received);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return verified(entry, bytes.buffer);
}

async function verified(entry: ModelEntry, bytes: ArrayBuffer): Promise<ArrayBuffer> {
  await verifyModel(entry, bytes);
  return bytes;
}
