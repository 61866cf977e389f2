/**
 * Images to classifier input the way the pipeline makes them: Pillow's `convert("RGB")`, then
 * `resize((size, size), Image.Resampling.BICUBIC)` when the size differs, then raw values.
 */

export type Layout = 'NHWC' | 'NCHW';

/** An RGB image: (height, width, 3) uint8, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

// Pillow's fixed-point resampling of 8-bit images: 22 fractional bits for the filter weights
const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2;

/** Pillow's bicubic kernel (Keys, a = -0.5). */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** Per output index: first input index and how many inputs contribute. */
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `size` per output index. */
  weights: Int32Array;
  size: number;
}

/** Pillow's precompute_coeffs and normalize_coeffs_8bpc for one axis. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // downscaling widens the kernel: antialiasing
  const support = BICUBIC_SUPPORT * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * size);
  const row = new Float64Array(size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      row[x] = bicubic((x + xmin - center + 0.5) / filterScale);
      total += row[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? row[x] / total : row[x];
      // C's (int) cast truncates: Pillow adds ±0.5 first to round half away from zero
      weights[xx * size + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, size };
}

/** Pillow's clip8: drop the fraction bits and clamp to 0..255. */
function clip8(sum: number): number {
  const value = sum >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/**
 * Pillow's BICUBIC resize of interleaved 8-bit pixels (`channels` per pixel): a horizontal pass
 * then a vertical one, each rounded to uint8, each skipped when its axis keeps its size.
 */
export function resizeBicubic(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  let current = pixels;
  if (outWidth !== width) {
    const { start, count, weights, size } = coefficients(width, outWidth);
    const next = new Uint8Array(outWidth * height * channels);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        for (let c = 0; c < channels; c++) {
          let sum = HALF;
          for (let k = 0; k < count[xx]; k++) {
            sum += current[(y * width + start[xx] + k) * channels + c] * weights[xx * size + k];
          }
          next[(y * outWidth + xx) * channels + c] = clip8(sum);
        }
      }
    }
    current = next;
  }
  if (outHeight !== height) {
    const { start, count, weights, size } = coefficients(height, outHeight);
    const next = new Uint8Array(outWidth * outHeight * channels);
    for (let yy = 0; yy < outHeight; yy++) {
      for (let x = 0; x < outWidth; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = HALF;
          for (let k = 0; k < count[yy]; k++) {
            sum += current[((start[yy] + k) * outWidth + x) * channels + c] * weights[yy * size + k];
          }
          next[(yy * outWidth + x) * channels + c] = clip8(sum);
        }
      }
    }
    current = next;
  }
  return current === pixels ? pixels.slice() : current;
}

/** RGBA (as canvases hold it) to RGB, dropping alpha as Pillow's convert("RGB") does. */
export function rgbaToRgb(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    pixels[p * 3] = rgba[p * 4];
    pixels[p * 3 + 1] = rgba[p * 4 + 1];
    pixels[p * 3 + 2] = rgba[p * 4 + 2];
  }
  return { width, height, pixels };
}

/** How a photo that is not square becomes one, as the pipeline's `data.aspect` says. */
export type Aspect = 'squash' | 'center_crop' | 'pad';
export const ASPECTS: readonly Aspect[] = ['squash', 'center_crop', 'pad'];

/** The image made square: stretched whole later (squash), its central square, or whole on black. */
export function squared(image: RgbImage, aspect: Aspect): RgbImage {
  const { width, height, pixels } = image;
  if (aspect === 'squash' || width === height) return image;
  const side = aspect === 'center_crop' ? Math.min(width, height) : Math.max(width, height);
  const out = new Uint8Array(side * side * 3); // black, where padding shows
  if (aspect === 'center_crop') {
    const [left, top] = [Math.floor((width - side) / 2), Math.floor((height - side) / 2)];
    for (let y = 0; y < side; y++) {
      const from = ((top + y) * width + left) * 3;
      out.set(pixels.subarray(from, from + side * 3), y * side * 3);
    }
  } else {
    const [left, top] = [Math.floor((side - width) / 2), Math.floor((side - height) / 2)];
    for (let y = 0; y < height; y++)
      out.set(pixels.subarray(y * width * 3, (y + 1) * width * 3), ((top + y) * side + left) * 3);
  }
  return { width: side, height: side, pixels: out };
}

/** The image at size x size, made square by `aspect` and resized only when it differs, as the pipeline does. */
export function fitToSize(image: RgbImage, size: number, aspect: Aspect = 'squash'): RgbImage {
  if (image.width === size && image.height === size) return image;
  const square = squared(image, aspect);
  return {
    width: size,
    height: size,
    pixels: resizeBicubic(square.pixels, square.width, square.height, 3, size, size),
  };
}

/** A size x size RGB image to one float32 input (1, H, W, 3) or (1, 3, H, W), uint8 mapped onto range. */
export function toTensor(image: RgbImage, layout: Layout, range: readonly [number, number]): Float32Array {
  const { width, height, pixels } = image;
  const [low, high] = range;
  const scale = (high - low) / 255; // 1 for the classifier's raw 0..255 input
  const out = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const index = layout === 'NHWC' ? p * 3 + c : c * width * height + p;
      out[index] = pixels[p * 3 + c] * scale + low;
    }
  }
  return out;
}

/** Decode an image file to RGB at its own size, with no colour management or premultiplication. */
export async function decodeImage(file: Blob): Promise<RgbImage> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    if (!context) throw new Error('this browser gives no 2D canvas to decode images with');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return rgbaToRgb(data, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}
