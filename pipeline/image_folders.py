"""Image-folder datasets for the generator, and the batch sampler that feeds it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from pipeline.datasets import IMAGE_SUFFIXES, DatasetError, ImageSet, decode_image

ClassFrom = Literal["folder", "prefix"]


def class_of(path: Path, root: Path, class_from: ClassFrom) -> str:
    """The class of an image: its folder, or its file-name prefix (`Abyssinian_12.jpg`)."""
    if class_from == "folder":
        return path.relative_to(root).parts[0]
    return path.stem.rsplit("_", 1)[0]


def load_image_folder(
    root: Path,
    image_size: int,
    class_from: ClassFrom = "folder",
    classes: tuple[str, ...] | None = None,
) -> ImageSet:
    """Every image under `root`, resized to image_size; labels follow sorted class names."""
    if not root.is_dir():
        raise DatasetError(f"{root}: image folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if class_from == "folder":
        files = [p for p in files if len(p.relative_to(root).parts) == 2]
    by_class: dict[str, list[Path]] = {}
    for path in files:
        by_class.setdefault(class_of(path, root, class_from), []).append(path)
    if classes is not None:
        missing = sorted(set(classes) - set(by_class))
        if missing:
            raise DatasetError(
                f"{root}: no images of class(es) {missing}; found {sorted(by_class)}"
            )
        by_class = {name: by_class[name] for name in classes}
    if len(by_class) < 2:
        raise DatasetError(f"{root}: need images of at least two classes, found {sorted(by_class)}")
    names = tuple(sorted(by_class))
    images, labels = [], []
    for label, name in enumerate(names):
        for path in by_class[name]:
            images.append(decode_image(path.read_bytes(), path.name, root, size=image_size))
            labels.append(label)
    return ImageSet(np.stack(images), np.array(labels, dtype=np.int64), names)


class BatchSampler:
    """Draws batches of indices with replacement, optionally class-balanced.

    Balanced draws weight each image by the inverse of its class's frequency, so every class is
    drawn equally often whatever its share of the data.
    """

    def __init__(
        self, labels: np.ndarray, batch_size: int, balanced: bool, generator: torch.Generator
    ) -> None:
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels] if balanced else np.ones(len(labels))
        self.weights = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        self.batch_size = batch_size
        self.generator = generator

    def draw(self) -> torch.Tensor:
        return torch.multinomial(
            self.weights, self.batch_size, replacement=True, generator=self.generator
        )  # (B,)


def class_histogram(labels: np.ndarray, drawn: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """How often each class was drawn, against its count in the data."""
    drawn_counts = np.bincount(labels[drawn], minlength=len(class_names))
    data_counts = np.bincount(labels, minlength=len(class_names))
    return {
        name: {"drawn": int(d), "in_data": int(n)}
        for name, d, n in zip(class_names, drawn_counts, data_counts, strict=True)
    }
