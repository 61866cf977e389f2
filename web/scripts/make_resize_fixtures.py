"""Write tests/fixtures/resize.json: source images and what Pillow's bicubic resize makes of them.

    python web/scripts/make_resize_fixtures.py

The app ports Pillow's resampling to TypeScript; its unit test resizes the same source pixels and
compares with these. Sources mix smooth gradients, noise and hard edges, so that the filter's
negative lobes overshoot and Pillow's clipping is exercised. Rerun after a Pillow upgrade.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "resize.json"
TARGET = (32, 32)
# (width, height): downscales (antialiased), upscales, one axis only, odd ratios
SIZES = ((64, 48), (100, 37), (33, 32), (32, 45), (20, 20), (7, 50), (128, 96), (31, 17))


def source_image(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: gradients plus noise plus a checkerboard of hard edges."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    gradient = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 255
    checker = ((x // 3 + y // 3) % 2 == 0)[..., None] * np.array([255.0, 0.0, 128.0])
    noise = rng.normal(0.0, 40.0, (height, width, 3))
    mixed = np.where(rng.random((height, width, 1)) < 0.5, gradient, checker) + noise
    return np.clip(mixed, 0, 255).astype(np.uint8)


def main() -> None:
    rng = np.random.default_rng(20240601)
    cases = []
    for width, height in SIZES:
        source = source_image(width, height, rng)
        resized = np.asarray(Image.fromarray(source).resize(TARGET, Image.Resampling.BICUBIC))
        cases.append(
            {
                "width": width,
                "height": height,
                "source": base64.b64encode(source.tobytes()).decode(),
                "out_width": TARGET[0],
                "out_height": TARGET[1],
                "expected": base64.b64encode(resized.tobytes()).decode(),
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fixture = {"pillow": PIL.__version__, "filter": "BICUBIC", "layout": "HWC RGB", "cases": cases}
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
