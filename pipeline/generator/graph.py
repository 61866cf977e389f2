"""The exported generator graph's interface: its inputs and output, the facts about it that
readers take from the file's metadata, fixed random feeds for it, and how far a variant of it
(quantised, say) strays from the original."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from pipeline.runtime.models import ModelInfo, read_info
from pipeline.runtime.sessions import open_session
from pipeline.runtime.variants import GeneratorVariant

INPUT_NAMES = ("x", "t", "y", "guidance_scale")
OUTPUT_NAME = "velocity"
LAYOUT = "NCHW"
VALUE_RANGE = (-1.0, 1.0)  # pixels in model space


@dataclass(frozen=True)
class GeneratorInfo(ModelInfo):
    """A generator's metadata_props."""

    ROLE: ClassVar[str] = "generator"

    input_names: tuple[str, ...]
    value_range: tuple[float, float]
    null_class: int  # the label that means "no class", for classifier-free guidance

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


def random_inputs(info: GeneratorInfo, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Noisy images, times, labels (the null class included) and guidance scales."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *info.sample_shape, generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, info.null_class + 1, (batch,), generator=g)
    scale = torch.rand(batch, generator=g) * 5
    return dict(zip(INPUT_NAMES, (x.numpy(), t.numpy(), y.numpy(), scale.numpy()), strict=True))


@dataclass(frozen=True)
class ExportMetrics:
    """metrics/export_generator.json: how closely the exported graph follows the trained model."""

    opset: int
    nodes: int
    velocity_max_abs_diff: float  # the largest over the batch sizes checked
    velocity_max_abs_diff_by_batch: dict[str, float]  # batch_<n>: at each dynamic batch size
    sample_max_abs_diff: float  # over a whole fixed-noise sample, before rounding to pixels
    sample_pixels_equal: float  # the share of the sample's uint8 pixels that agree exactly


def compare_variants(
    variants: dict[str, Path], threads: int, batch: int, seed: int
) -> dict[str, GeneratorVariant]:
    """Every variant against the first, on random inputs shaped as the first's metadata says."""
    inputs = random_inputs(read_info(GeneratorInfo, next(iter(variants.values()))), batch, seed)
    outputs = {
        name: open_session(path, threads).run(None, inputs)[0] for name, path in variants.items()
    }
    reference = next(iter(outputs.values()))
    return {
        name: GeneratorVariant(
            bytes=variants[name].stat().st_size,
            velocity_max_abs_error=float(np.abs(velocity - reference).max()),
            velocity_relative_l2_error=float(
                np.linalg.norm(velocity - reference) / np.linalg.norm(reference)
            ),
        )
        for name, velocity in outputs.items()
    }
