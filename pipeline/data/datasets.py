"""Which images the pipeline learns from: the `data` params, the sources each dataset is read
from, and the selection (species, classes, an `other` class, the image size) made from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipeline.data.images import Aspect, DatasetError, ImageSet, resize_images
from pipeline.data.sources import Source, SourceRecord
from pipeline.schema import bounded

Dataset = Literal["cifar10", "oxford_pets", "folder"]
Species = Literal["cat", "dog"]
OTHER = "other"

# The download sources each dataset is read from, by the names params.yaml declares them under.
DATASET_SOURCES: dict[Dataset, tuple[str, ...]] = {
    "cifar10": ("cifar10",),
    "oxford_pets": ("oxford_pets_images", "oxford_pets_annotations"),
    "folder": (),  # the photos in data/raw, tracked with `dvc add`
}


@dataclass(frozen=True)
class DataParams:
    """The `data` params: the one place that says what both trainers learn from."""

    dataset: Dataset
    species: Species | None  # oxford_pets: keep only this species' breeds
    classes: list[str] | None  # keep only these classes; null keeps all
    other_class: bool  # the images of every class not kept become one more class, "other"
    image_size: int = bounded(8, 512)  # images are resized to image_size x image_size
    aspect: Aspect  # how a photo that is not square becomes one: squash, center_crop, pad
    # folder: the share of each class held out for testing where data/raw has no train/, test/
    test_fraction: float = bounded(0.01, 0.9)
    split_seed: int = bounded(0, 2**32 - 1)
    min_class_images: int = bounded(1, 1_000_000)  # folder: a class with fewer is refused


@dataclass(frozen=True)
class Splits:
    """A dataset's own train and test split, and each class's species where it has one."""

    train: ImageSet
    test: ImageSet
    species: dict[str, Species]  # class name -> species; empty for data without species


def kept_classes(splits: Splits, params: DataParams) -> tuple[str, ...]:
    """The classes `params` keep, in the data's own order; names a request the data cannot meet."""
    names = splits.train.class_names
    if params.species is not None:
        if not splits.species:
            raise DatasetError(
                f"data.species is {params.species!r}, but {params.dataset} has no species; "
                "set data.species to null"
            )
        names = tuple(n for n in names if splits.species[n] == params.species)
    if params.classes is not None:
        missing = sorted(set(params.classes) - set(names))
        if missing:
            raise DatasetError(
                f"data.classes names {missing}, which {params.dataset} (after data.species) "
                f"does not have; its classes: {list(names)}"
            )
        names = tuple(n for n in names if n in params.classes)
    if len(names) + params.other_class < 2:
        raise DatasetError(f"data keeps {list(names)}: a classifier needs two classes or more")
    return names


def select(data: ImageSet, keep: tuple[str, ...], other: bool, image_size: int) -> ImageSet:
    """The images of `keep` (and, with `other`, every other image as class "other"), relabelled
    in that order and resized."""
    rest = [n for n in data.class_names if n not in keep]
    names = (*keep, OTHER) if other and rest else keep
    relabel = np.array([names.index(n) if n in keep else len(keep) for n in data.class_names])
    kept = [data.class_names.index(n) for n in keep]
    chosen = np.ones(len(data.labels), bool) if other else np.isin(data.labels, kept)
    picked = ImageSet(data.images[chosen], relabel[data.labels[chosen]], names)
    return resize_images(picked, image_size)


def learning_sets(splits: Splits, params: DataParams) -> tuple[ImageSet, ImageSet]:
    """The train and test images the pipeline learns from, as `params` select them."""
    keep = kept_classes(splits, params)
    train = select(splits.train, keep, params.other_class, params.image_size)
    test = select(splits.test, keep, params.other_class, params.image_size)
    return train, test


@dataclass(frozen=True)
class Provenance:
    """reports/provenance.json: where each source came from, and what was made of them."""

    sources: dict[str, SourceRecord]
    dataset: Dataset
    classes: tuple[str, ...]  # the classes learnt, in label order
    images: dict[str, int]  # per set written: cifar10_train, ..., train, test
    unreadable: tuple[str, ...]  # images of the sources that no decoder opened, skipped
    held_out: tuple[str, ...]  # folder: the test photos of a seeded split (the split, written)

    @classmethod
    def of(
        cls,
        sources: dict[str, Source],
        used: tuple[str, ...],
        reference: tuple[ImageSet, ImageSet, ImageSet],
        params: DataParams,
        train: ImageSet,
        test: ImageSet,
        unreadable: list[str],
        held_out: list[str],
    ) -> Provenance:
        counts = zip(("cifar10_train", "cifar10_test", "cifar10_perf", "train", "test"),
                     (*reference, train, test), strict=True)  # fmt: skip
        return cls(
            sources={name: sources[name].record() for name in used},
            dataset=params.dataset,
            classes=train.class_names,
            images={name: len(data.labels) for name, data in counts},
            unreadable=tuple(unreadable),
            held_out=tuple(held_out),
        )
