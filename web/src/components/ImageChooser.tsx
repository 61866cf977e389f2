import { useState } from 'react';
import { IMAGE_LIMITS } from '../images';

interface Props {
  onFile: (file: File) => void;
}

/**
 * A drop zone that is also the file chooser's label. The input itself is visually hidden but
 * stays in the tab order, so Tab reaches it and Enter or Space opens the chooser.
 */
export function ImageChooser({ onFile }: Props) {
  const [dragging, setDragging] = useState(false);
  return (
    <label
      className={`dropzone${dragging ? ' dragging' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const file = e.dataTransfer.files[0];
        if (file) onFile(file);
      }}
    >
      <input
        type="file"
        className="visually-hidden"
        accept="image/*"
        aria-label="Image file"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onFile(file);
          e.target.value = ''; // choosing the same file again still counts
        }}
      />
      <strong>Drop an image here</strong> or choose a file (PNG, JPEG, GIF, WebP or BMP; up to{' '}
      {IMAGE_LIMITS.bytes / 2 ** 20} MiB and {IMAGE_LIMITS.pixels / 1e6} megapixels). Generated images can be sent here
      too.
    </label>
  );
}
