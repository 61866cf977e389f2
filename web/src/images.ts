/**
 * The main thread's handle on the image worker (src/imageWorker.ts): a file or a generated image
 * in, a PreparedImage out. Only the latest request counts; an earlier one still running is dropped.
 */

import type { Aspect, RgbImage } from './preprocess';
import type { PreparedImage } from './types';

/** What the app reads: larger files or images are refused with these numbers in the message. */
export const IMAGE_LIMITS = { bytes: 64 * 2 ** 20, pixels: 50e6 } as const;
/** The longer side of the preview shown beside the classifier input. */
export const PREVIEW_SIZE = 128;

export interface PrepareRequest {
  id: number;
  name: string;
  source: Blob | RgbImage;
  /** The classifier input sizes to make. */
  sizes: number[];
  /** How a photo that is not square becomes one: as the classifier's training images did. */
  aspect: Aspect;
}

export type PrepareReply = { id: number; image: PreparedImage } | { id: number; error: string };

/** A preparation that a later one replaced; not a failure to show. */
export class Superseded extends Error {
  override name = 'Superseded';
}

export class ImagePreparer {
  private worker?: Worker;
  private latest = 0;
  private waiting?: { id: number; reject: (error: Error) => void };

  prepare(name: string, source: Blob | RgbImage, sizes: number[], aspect: Aspect): Promise<PreparedImage> {
    this.worker ??= new Worker(new URL('./imageWorker.ts', import.meta.url), { type: 'module' });
    this.waiting?.reject(new Superseded(name));
    const id = ++this.latest;
    return new Promise((resolve, reject) => {
      this.waiting = { id, reject };
      this.worker!.onmessage = ({ data }: MessageEvent<PrepareReply>) => {
        if (data.id !== this.latest) return;
        this.waiting = undefined;
        if ('image' in data) resolve(data.image);
        else reject(new Error(data.error));
      };
      this.worker!.onerror = (event) => reject(new Error(`the image worker failed: ${event.message}`));
      this.worker!.postMessage({ id, name, source, sizes, aspect } satisfies PrepareRequest);
    });
  }

  terminate(): void {
    this.worker?.terminate();
    this.worker = undefined;
  }
}
