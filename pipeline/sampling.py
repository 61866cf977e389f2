"""Turning a velocity model into images: fixed-noise class-conditional samples and grids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.files import atomic_path
from pipeline.flow import SampleMethod, VelocityFn, sample
from pipeline.params import bounded


@dataclass(frozen=True)
class SampleConfig:
    method: SampleMethod
    steps: int = bounded(1, 1000)
    guidance_scale: float = bounded(0.0, 100.0)
    per_class: int = bounded(1, 1000)
    seed: int = bounded(0, 2**63 - 1)


def fixed_noise(count: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The same starting noise for a given seed, whatever the device or run."""
    return torch.randn((count, *shape), generator=torch.Generator().manual_seed(seed))


def class_labels(num_classes: int, per_class: int) -> torch.Tensor:
    return torch.arange(num_classes).repeat_interleave(per_class)  # (C * per_class,)


def generate(velocity: VelocityFn, noise: torch.Tensor, config: SampleConfig) -> np.ndarray:
    """Integrate noise (N, 3, H, W) to uint8 images (N, H, W, 3)."""
    return to_uint8(sample(velocity, noise, config.steps, config.method))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Model space [-1, 1] (N, 3, H, W) to uint8 RGB (N, H, W, 3)."""
    pixels = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def save_grid(images: np.ndarray, rows: int, path: Path, scale: int = 2, pad: int = 2) -> None:
    """Save (rows * cols, H, W, 3) images as one PNG grid, one row per class, upscaled."""
    count, height, width, _ = images.shape
    cols = count // rows
    cell_h, cell_w = height * scale + pad, width * scale + pad
    grid = np.full((rows * cell_h + pad, cols * cell_w + pad, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        big = image.repeat(scale, axis=0).repeat(scale, axis=1)
        grid[pad + r * cell_h : pad + r * cell_h + height * scale,
             pad + c * cell_w : pad + c * cell_w + width * scale] = big  # fmt: skip
    save_png(grid, path)


def save_png(pixels: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
