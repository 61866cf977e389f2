/**
 * Decoding and resizing off the main thread: an image file (or a generated image) becomes a
 * preview and the classifier inputs, so that a photo of many megapixels never blocks the page.
 */

import { imageDimensions, HEADER_BYTES } from './imageHeader';
import { IMAGE_LIMITS, PREVIEW_SIZE, type PrepareReply, type PrepareRequest } from './images';
import { fitToSize, rgbaToRgb, type RgbImage } from './preprocess';
import { messageOf } from './errors';
import type { PreparedImage } from './types';

const megapixels = (width: number, height: number): string => `${((width * height) / 1e6).toFixed(1)} megapixels`;

function refuseIfTooLarge(name: string, width: number, height: number): void {
  if (width * height > IMAGE_LIMITS.pixels) {
    throw new Error(
      `${name} is ${width}×${height} (${megapixels(width, height)}); images up to ${IMAGE_LIMITS.pixels / 1e6} megapixels are read`,
    );
  }
}

async function decode(name: string, file: Blob): Promise<{ pixels: RgbImage; bitmap: ImageBitmap }> {
  if (file.size > IMAGE_LIMITS.bytes) {
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    throw new Error(`${name} is ${mib(file.size)}; files up to ${mib(IMAGE_LIMITS.bytes)} are read`);
  }
  const stated = imageDimensions(new Uint8Array(await file.slice(0, HEADER_BYTES).arrayBuffer()));
  if (stated) refuseIfTooLarge(name, stated.width, stated.height);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${name} is not an image this browser can decode (PNG, JPEG, GIF, WebP or BMP)`);
  }
  refuseIfTooLarge(name, bitmap.width, bitmap.height);
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('this browser gives no 2D canvas to decode images with');
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { pixels: rgbaToRgb(data, bitmap.width, bitmap.height), bitmap };
}

/** A smoothed thumbnail of a large image, at most PREVIEW_SIZE on its longer side. */
function thumbnail(bitmap: ImageBitmap): RgbImage {
  const scale = PREVIEW_SIZE / Math.max(bitmap.width, bitmap.height);
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const context = new OffscreenCanvas(width, height).getContext('2d')!;
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, 0, 0, width, height);
  return rgbaToRgb(context.getImageData(0, 0, width, height).data, width, height);
}

async function prepare({ name, source, sizes, aspect }: PrepareRequest): Promise<PreparedImage> {
  let pixels: RgbImage;
  let preview: RgbImage;
  if (source instanceof Blob) {
    const decoded = await decode(name, source);
    pixels = decoded.pixels;
    const small = pixels.width <= PREVIEW_SIZE && pixels.height <= PREVIEW_SIZE;
    preview = small ? pixels : thumbnail(decoded.bitmap);
    decoded.bitmap.close();
  } else {
    pixels = preview = source;
  }
  const inputs = Object.fromEntries(sizes.map((size) => [size, fitToSize(pixels, size, aspect)]));
  return { name, width: pixels.width, height: pixels.height, preview, inputs };
}

self.onmessage = async ({ data }: MessageEvent<PrepareRequest>) => {
  let reply: PrepareReply;
  try {
    reply = { id: data.id, image: await prepare(data) };
  } catch (error) {
    reply = { id: data.id, error: messageOf(error) };
  }
  self.postMessage(reply);
};
