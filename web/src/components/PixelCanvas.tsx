import { useEffect, useRef } from 'react';
import type { RgbImage } from '../preprocess';

interface Props {
  image: RgbImage;
  /** Displayed length of the longer side in CSS pixels; scaled up without smoothing. */
  size: number;
  label: string;
  onClick?: () => void;
}

/** An RGB image drawn pixel for pixel into a canvas; a button around it when it can be clicked. */
export function PixelCanvas({ image, size, label, onClick }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  // Gaining or losing the button around it mounts a new, blank canvas: draw that one too
  const clickable = onClick !== undefined;

  useEffect(() => {
    const context = canvas.current?.getContext('2d');
    if (!context) return;
    const { width, height, pixels } = image;
    const rgba = new ImageData(width, height);
    for (let p = 0; p < width * height; p++) {
      rgba.data.set(pixels.subarray(p * 3, p * 3 + 3), p * 4);
      rgba.data[p * 4 + 3] = 255;
    }
    context.putImageData(rgba, 0, 0);
  }, [image, clickable]);

  const scale = size / Math.max(image.width, image.height);
  const drawn = (
    <canvas
      ref={canvas}
      width={image.width}
      height={image.height}
      style={{ width: Math.round(image.width * scale), height: Math.round(image.height * scale) }}
      className="pixels"
      role="img"
      aria-label={label}
    />
  );
  if (!onClick) return drawn;
  return (
    <button
      type="button"
      className="pixel-button"
      onClick={onClick}
      aria-label={`Classify ${label}`}
      title="Click to classify"
    >
      {drawn}
    </button>
  );
}
