"""Which training images each step sees: drawn with replacement, optionally class-balanced, and
every draw recorded, so that a run can show (and a test can prove) what it trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pipeline.files import save_npz, write_csv


class RecordingSampler:
    """Draws batches of indices with replacement; balanced draws weight each image by the
    inverse of its class's frequency, so every class is drawn equally often."""

    def __init__(
        self,
        labels: np.ndarray,
        batch_size: int,
        balanced: bool,
        generator: torch.Generator,
        steps: int,
    ) -> None:
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels] if balanced else np.ones(len(labels))
        self.weights = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        self.batch_size = batch_size
        self.generator = generator
        self.drawn = torch.zeros(steps, batch_size, dtype=torch.int32)  # (steps, B)

    def draw(self, step: int) -> Tensor:
        index = torch.multinomial(
            self.weights, self.batch_size, replacement=True, generator=self.generator
        )  # (B,)
        self.drawn[step] = index.to(torch.int32)
        return index


def class_histogram(
    labels: np.ndarray, drawn: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, tuple[int, int]]:
    """Per class: how often it was drawn, and how many images of it the data holds."""
    drawn_counts = np.bincount(labels[drawn.reshape(-1)], minlength=len(class_names))
    data_counts = np.bincount(labels, minlength=len(class_names))
    return {
        name: (int(d), int(n))
        for name, d, n in zip(class_names, drawn_counts, data_counts, strict=True)
    }


def save_draws(
    drawn: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], indices: Path, plot: Path
) -> None:
    """The drawn indices (steps, batch) as .npz, and their per-class histogram as a plot."""
    save_npz(indices, indices=drawn)
    histogram = class_histogram(labels, drawn, class_names)
    rows = ((name, drawn_count, count) for name, (drawn_count, count) in histogram.items())
    write_csv(plot, ["class", "drawn", "in_data"], rows)
