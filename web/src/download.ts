/** Saving an image as a PNG file the browser downloads, scaled up pixel for pixel if asked. */

import type { RgbImage } from './preprocess';

/** The image as PNG bytes, each pixel drawn as a scale × scale square (no smoothing). */
export async function encodePng(image: RgbImage, scale: number): Promise<Blob> {
  const { width, height, pixels } = image;
  const rgba = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    rgba.data.set(pixels.subarray(p * 3, p * 3 + 3), p * 4);
    rgba.data[p * 4 + 3] = 255;
  }
  const source = new OffscreenCanvas(width, height);
  source.getContext('2d')!.putImageData(rgba, 0, 0);
  const canvas = new OffscreenCanvas(width * scale, height * scale);
  const context = canvas.getContext('2d')!;
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, width * scale, height * scale);
  return canvas.convertToBlob({ type: 'image/png' });
}

/** Hand a file to the browser's downloads. */
export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
