"""Sample images from the exported ONNX generator with ONNX Runtime.

    python -m pipeline.onnx_sampler --class-index 3 --count 8 --steps 20 --guidance 4 --out out/

The graph computes one guided velocity; the ODE loop runs here, in `pipeline.flow`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from pipeline import paths
from pipeline.classifier import ort_session
from pipeline.files import read_json
from pipeline.flow import VelocityFn
from pipeline.sampling import SampleConfig, fixed_noise, generate, save_png

log = logging.getLogger(__name__)


def onnx_velocity(
    session: ort.InferenceSession, labels: torch.Tensor, guidance_scale: float
) -> VelocityFn:
    """velocity_fn(x, t) running the exported guided-velocity graph."""
    y = labels.numpy().astype(np.int64)
    scale = np.full(len(y), guidance_scale, dtype=np.float32)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        inputs = {
            "x": x.numpy().astype(np.float32),
            "t": t.numpy().astype(np.float32),
            "y": y,
            "guidance_scale": scale,
        }
        return torch.from_numpy(session.run(None, inputs)[0])

    return velocity


def sample_class(
    session: ort.InferenceSession,
    class_index: int,
    count: int,
    config: SampleConfig,
    image_size: int,
) -> np.ndarray:
    """`count` uint8 images (N, H, W, 3) of one class from fixed noise."""
    noise = fixed_noise(count, (3, image_size, image_size), config.seed)
    labels = torch.full((count,), class_index, dtype=torch.int64)
    return generate(onnx_velocity(session, labels, config.guidance_scale), noise, config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=paths.GENERATOR_ONNX)
    parser.add_argument(
        "--config",
        type=Path,
        default=paths.GENERATOR_CONFIG,
        help="the generator's config.json (image size, class names)",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--class-index", type=int)
    which.add_argument("--class-name")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--method", choices=["euler", "heun"], default="euler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    args = parser.parse_args(argv)

    config = read_json(args.config)
    names = config["class_names"]
    index = names.index(args.class_name) if args.class_name in names else args.class_index
    if index is None or not 0 <= index < len(names):
        parser.error(f"choose a class among {names} (index 0..{len(names) - 1})")
    settings = SampleConfig(
        method=args.method,
        steps=args.steps,
        guidance_scale=args.guidance,
        per_class=args.count,
        seed=args.seed,
    )
    images = sample_class(
        ort_session(args.model, threads=0), index, args.count, settings, config["image_size"]
    )
    for i, image in enumerate(images):
        save_png(image, args.out / f"{names[index]}_{i:03d}.png")
    print(f"wrote {len(images)} images of {names[index]!r} to {args.out}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
