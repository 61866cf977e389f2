"""Write tests/fixtures/resize.json: source images and what Pillow's bicubic resize makes of them,
and what the pipeline's own resize makes of photos that are not square, by each `data.aspect`.

    python web/scripts/make_resize_fixtures.py

The app ports Pillow's resampling to TypeScript; its unit test resizes the same source pixels and
compares with these. Sources mix smooth gradients, noise and hard edges, so that the filter's
negative lobes overshoot and Pillow's clipping is exercised. Rerun after a Pillow upgrade.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the pipeline's resize, run as a script from anywhere
from pipeline.data.images import resized as pipeline_resized  # noqa: E402

OUT = ROOT / "web" / "tests" / "fixtures" / "resize.json"
TARGET = (32, 32)
# (width, height): downscales (antialiased), upscales, one axis only, odd ratios
SIZES = ((64, 48), (100, 37), (33, 32), (32, 45), (20, 20), (7, 50), (128, 96), (31, 17))
# not square: odd and even margins, landscape and portrait, a side below the target
ASPECT_SIZES = ((64, 48), (37, 100), (45, 32), (31, 17))


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
    aspects = []
    for width, height in ASPECT_SIZES:
        source = source_image(width, height, rng)
        for aspect in ("squash", "center_crop", "pad"):
            made = pipeline_resized(Image.fromarray(source), TARGET[0], aspect)
            aspects.append({"width": width, "height": height, "aspect": aspect,
                            "source": base64.b64encode(source.tobytes()).decode(),
                            "expected": base64.b64encode(made.tobytes()).decode()})  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fixture = {"pillow": PIL.__version__, "filter": "BICUBIC", "layout": "HWC RGB", "cases": cases,
               "aspects": aspects}  # fmt: skip
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
