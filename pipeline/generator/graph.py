"""The exported generator graph's interface: its inputs and output, fixed random feeds for it,
and how far a variant of it (quantised, say) strays from the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.generator.dit import DiTConfig
from pipeline.runtime.sessions import open_session

INPUT_NAMES = ("x", "t", "y", "guidance_scale")
OUTPUT_NAME = "velocity"


def random_inputs(config: DiTConfig, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Noisy images, times, labels (the null class included) and guidance scales."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config.channels, config.image_size, config.image_size, generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, config.num_classes + 1, (batch,), generator=g)
    scale = torch.rand(batch, generator=g) * 5
    return dict(zip(INPUT_NAMES, (x.numpy(), t.numpy(), y.numpy(), scale.numpy()), strict=True))


def compare_variants(
    variants: dict[str, Path], config: DiTConfig, threads: int, batch: int, seed: int
) -> dict[str, dict]:
    """Size of each generator variant and its velocity error against the first on fixed inputs."""
    inputs = random_inputs(config, batch, seed)
    outputs = {
        name: open_session(path, threads).run(None, inputs)[0] for name, path in variants.items()
    }
    reference = next(iter(outputs.values()))
    return {
        name: {
            "bytes": variants[name].stat().st_size,
            "velocity_max_abs_error": float(np.abs(velocity - reference).max()),
            "velocity_relative_l2_error": float(
                np.linalg.norm(velocity - reference) / np.linalg.norm(reference)
            ),
        }
        for name, velocity in outputs.items()
    }
