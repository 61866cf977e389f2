"""From a velocity model to images: fixed noise, the guided velocity (PyTorch or ONNX Runtime),
the ODE solve, uint8 pixels and labelled grids.

Standalone, it samples the exported generator with ONNX Runtime:

    python -m pipeline.generator.sampling --class-name cat --count 8 --out samples/
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image, ImageDraw, ImageFont

from pipeline.errors import PipelineError, run_main
from pipeline.files import atomic_path
from pipeline.generator.dit import DiT
from pipeline.generator.flow import Solver, VelocityFn, solve
from pipeline.generator.graph import GeneratorInfo
from pipeline.project import paths
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import open_session
from pipeline.schema import SchemaError, bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleParams:
    """The `sample` params: how the generator is sampled wherever the pipeline samples it."""

    solver: Solver
    steps: int = bounded(1, 1000)
    guidance_scale: float = bounded(0.0, 100.0)
    guidance_interval: tuple[float, float] = bounded(0.0, 1.0)  # flow times guided; else s = 1
    time_shift: float = bounded(0.1, 100.0)  # > 1: more of the steps near the noise
    per_class: int = bounded(1, 1000)  # images per class in the sample grid
    seed: int = bounded(0, 2**63 - 1)

    def __post_init__(self) -> None:
        interval = self.guidance_interval
        if len(interval) != 2 or not interval[0] < interval[1]:
            raise SchemaError(
                f"sample.guidance_interval is {list(self.guidance_interval)}: give [low, high], "
                "low < high, of flow times (0 noise, 1 data)"
            )

    @property
    def guidance(self) -> Guidance:
        return Guidance(self.guidance_scale, self.guidance_interval)


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance of scale s over the flow times [low, high]; elsewhere s = 1, the
    plain conditional velocity (guidance applied in a limited interval, Kynkäänniemi et al.)."""

    scale: float
    interval: tuple[float, float] = (0.0, 1.0)

    def scales(self, t: torch.Tensor) -> torch.Tensor:
        """The scale for each sample at its time t (N,)."""
        low, high = self.interval
        inside = (t >= low) & (t <= high)
        return torch.where(inside, torch.full_like(t, self.scale), torch.ones_like(t))  # (N,)


def fixed_noise(count: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The same starting noise for a given seed, whatever the device or run."""
    return torch.randn((count, *shape), generator=torch.Generator().manual_seed(seed))


def class_labels(num_classes: int, per_class: int) -> torch.Tensor:
    return torch.arange(num_classes).repeat_interleave(per_class)  # (C * per_class,)


def torch_velocity(model: DiT, labels: torch.Tensor, guidance: Guidance) -> VelocityFn:
    """velocity_fn(x, t) of a DiT guided towards labels (N,).

    s = 1 is the plain conditional model and s = 0 the unconditional (null-class) one.
    """
    return lambda x, t: model.forward_with_cfg(x, t, labels, guidance.scales(t))


def onnx_velocity(
    session: ort.InferenceSession, labels: torch.Tensor, guidance: Guidance
) -> VelocityFn:
    """velocity_fn(x, t) running the exported guided-velocity graph."""
    names = [value.name for value in session.get_inputs()]  # x, t, y, guidance_scale
    y = labels.numpy().astype(np.int64)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        scale = guidance.scales(t).numpy()
        feed = dict(zip(names, (x.numpy().astype(np.float32), t.numpy(), y, scale), strict=True))
        return torch.from_numpy(session.run(None, feed)[0])

    return velocity


def generate(velocity: VelocityFn, noise: torch.Tensor, sample: SampleParams) -> np.ndarray:
    """Integrate noise (N, C, H, W) to uint8 images (N, H, W, C) as `sample` says."""
    return to_uint8(solve(velocity, noise, sample.steps, sample.solver, sample.time_shift))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Model space [-1, 1] (N, C, H, W) to uint8 (N, H, W, C)."""
    pixels = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def save_grid(images: np.ndarray, class_names: tuple[str, ...], path: Path, scale: int = 2) -> None:
    """Save (classes * per_class, H, W, 3) images as one PNG, one row per class, each row
    headed by its class name."""
    rows = len(class_names)
    count, height, width, _ = images.shape
    cols, pad = count // rows, 2
    font = ImageFont.load_default()
    label_width = max(int(font.getlength(name)) for name in class_names) + 4 * pad
    cell_h, cell_w = height * scale + pad, width * scale + pad
    grid = Image.new("RGB", (label_width + cols * cell_w + pad, rows * cell_h + pad), "white")
    draw = ImageDraw.Draw(grid)
    for r, name in enumerate(class_names):
        draw.text(
            (2 * pad, pad + r * cell_h + cell_h // 2), name, fill="black", font=font, anchor="lm"
        )
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        big = Image.fromarray(image).resize(
            (width * scale, height * scale), Image.Resampling.NEAREST
        )
        grid.paste(big, (label_width + c * cell_w + pad, r * cell_h + pad))
    save_png(np.asarray(grid), path)


def save_png(pixels: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=paths.GENERATOR_ONNX)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--class-index", type=int)
    which.add_argument("--class-name")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=6.0)  # the default preset's
    parser.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0))
    parser.add_argument("--time-shift", type=float, default=1.0)
    parser.add_argument("--solver", choices=["euler", "heun"], default="euler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=Path, help="a float32 (N, C, H, W) .npy to start from")
    parser.add_argument("--out", type=Path, help="folder for the PNGs")
    parser.add_argument("--raw-out", type=Path, help="the samples before uint8, as float32 .npy")
    args = parser.parse_args(argv)

    info = read_info(GeneratorInfo, args.model)
    names = info.class_names
    index = names.index(args.class_name) if args.class_name in names else args.class_index
    if index is None or not 0 <= index < len(names):
        raise PipelineError(f"choose a class among {list(names)} (index 0..{len(names) - 1})")
    shape = info.sample_shape
    if args.noise is not None:
        noise = torch.from_numpy(np.load(args.noise, allow_pickle=False).astype(np.float32))
        if tuple(noise.shape[1:]) != shape:
            raise PipelineError(
                f"{args.noise}: noise of shape {tuple(noise.shape)}, expected (N, *{shape})"
            )
    else:
        noise = fixed_noise(args.count, shape, args.seed)
    labels = torch.full((len(noise),), index, dtype=torch.int64)
    guidance = Guidance(args.guidance, tuple(args.guidance_interval))
    velocity = onnx_velocity(open_session(args.model, threads=0), labels, guidance)
    samples = solve(velocity, noise, args.steps, args.solver, args.time_shift)
    if args.raw_out is not None:
        with atomic_path(args.raw_out) as tmp:
            np.save(tmp, samples.numpy())
    for i, image in enumerate(to_uint8(samples) if args.out is not None else []):
        save_png(image, args.out / f"{names[index]}_{i:03d}.png")
    log.info("sampled %d images of %r", len(samples), names[index])


if __name__ == "__main__":
    run_main(main)
