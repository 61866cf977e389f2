import { useState } from 'react';
import type { RgbImage } from '../preprocess';
import { PixelCanvas } from './PixelCanvas';

interface Props {
  images: RgbImage[];
  className: string;
  /** While sampling, images are neither classified nor saved. */
  running: boolean;
  onPick: (index: number) => void;
  onSave: (index: number, scale: number) => void;
}

const SCALES = [1, 4, 8];

/** The generated images: each one a button that classifies it, with a button that saves it as PNG. */
export function Gallery({ images, className, running, onPick, onSave }: Props) {
  const [scale, setScale] = useState(8);
  const size = images[0]?.width ?? 0;
  return (
    <>
      <div className="gallery">
        {images.map((image, index) => (
          <figure key={index}>
            <PixelCanvas
              image={image}
              size={128}
              label={`${className} sample ${index + 1}`}
              onClick={running ? undefined : () => onPick(index)}
            />
            <figcaption>
              #{index + 1}
              <button
                type="button"
                className="link"
                disabled={running}
                aria-label={`Save ${className} sample ${index + 1} as PNG`}
                onClick={() => onSave(index, scale)}
              >
                Save PNG
              </button>
            </figcaption>
          </figure>
        ))}
      </div>
      <div className="gallery-actions">
        <span className="muted">{running ? 'Sampling…' : 'Click an image to classify it.'}</span>
        <label>
          PNG size{' '}
          <select aria-label="PNG size" value={scale} onChange={(e) => setScale(Number(e.target.value))}>
            {SCALES.map((factor) => (
              <option key={factor} value={factor}>
                {size * factor}×{size * factor} px{factor > 1 ? ` (${factor}× upscaled)` : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
    </>
  );
}
