"""A folder of one's own photos, as DVC users keep them: `data/raw/<class>/<image>`, tracked with
`dvc add data/raw`. The folder's own `train/` and `test/` are used where present; otherwise each
class is split with a seed, byte-identical photos kept on one side, and the split written down.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.archives import ArchiveLimits
from pipeline.data.datasets import DataParams, Splits
from pipeline.data.images import IMAGE_SUFFIXES, DatasetError, ImageSet, decode_image

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Photo:
    path: Path
    label: str
    digest: str  # sha256 of the file's bytes: the same photo under two names is one photo


def class_photos(root: Path) -> dict[str, list[Path]]:
    """Each class sub-folder's image files, in name order (files beside the classes, such as
    a README, are no class)."""
    classes = {
        folder.name: sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not folder.name.startswith(".")
    }
    return {name: files for name, files in classes.items() if files}


def photos_of(root: Path) -> list[Photo]:
    return [
        Photo(path, label, hashlib.sha256(path.read_bytes()).hexdigest())
        for label, files in class_photos(root).items()
        for path in files
    ]


def seeded_split(photos: list[Photo], test_fraction: float, seed: int) -> dict[str, list[Photo]]:
    """Each class split apart with `seed`: `test_fraction` of its distinct photos (one at least)
    held out, copies of one photo always on the same side."""
    rng = np.random.default_rng(seed)
    split: dict[str, list[Photo]] = {"train": [], "test": []}
    for label in sorted({p.label for p in photos}):
        digests = sorted({p.digest for p in photos if p.label == label})
        held = max(1, round(test_fraction * len(digests)))
        test = set(rng.permutation(digests)[:held])
        for photo in (p for p in photos if p.label == label):
            split["test" if photo.digest in test else "train"].append(photo)
    return split


def check_no_leak(split: dict[str, list[Photo]]) -> None:
    """The same bytes on both sides of the split would test on training data: named."""
    train = {p.digest: p for p in split["train"]}
    leaked = [(train[p.digest].path, p.path) for p in split["test"] if p.digest in train]
    if leaked:
        pairs = "; ".join(f"{a} = {b}" for a, b in leaked[:5])
        raise DatasetError(
            f"{len(leaked)} test photo(s) are byte for byte in the training photos ({pairs}); "
            "remove one copy of each"
        )


def check_class_sizes(split: dict[str, list[Photo]], minimum: int) -> None:
    counts = Counter(p.label for side in split.values() for p in side)
    small = {label: n for label, n in sorted(counts.items()) if n < minimum}
    if small:
        named = ", ".join(f"{label} ({n})" for label, n in small.items())
        raise DatasetError(
            f"too few photos in class(es) {named}: data.min_class_images is {minimum}; add "
            "photos, or leave the class out with data.classes"
        )


def read_photo_folder(
    root: Path, params: DataParams, limits: ArchiveLimits
) -> tuple[Splits, list[str], list[str]]:
    """The folder's photos as train and test sets (decoded, turned upright, resized by
    `data.aspect`), the photos no decoder opened, and the test photos (relative paths)."""
    if not root.is_dir() or not any(root.iterdir()):
        raise DatasetError(
            f"{root}: no photo folder; put one sub-folder of photos per class there and track "
            "it with `dvc add` (README: Your own photos)"
        )
    own = [root / name for name in SPLITS]
    if any(folder.is_dir() for folder in own) and not all(folder.is_dir() for folder in own):
        raise DatasetError(f"{root}: has one of train/ and test/ but not both; add the other")
    if all(folder.is_dir() for folder in own):
        split = {name: photos_of(folder) for name, folder in zip(SPLITS, own, strict=True)}
    else:
        split = seeded_split(photos_of(root), params.test_fraction, params.split_seed)
    if not split["train"] or not split["test"]:
        raise DatasetError(f"{root}: no class sub-folder holds a photo")
    check_no_leak(split)
    check_class_sizes(split, params.min_class_images)
    names = tuple(sorted({p.label for side in split.values() for p in side}))
    unreadable: list[str] = []
    sets = [_decoded(split[name], names, params, unreadable) for name in SPLITS]
    if len(unreadable) > limits.unreadable_images:
        raise DatasetError(
            f"{root}: {len(unreadable)} photos cannot be read, over download.limits."
            f"unreadable_images ({limits.unreadable_images}); the first: {unreadable[:5]}"
        )
    held_out = [p.path.relative_to(root).as_posix() for p in split["test"]]
    return Splits(sets[0], sets[1], {}), unreadable, held_out


def _decoded(
    photos: list[Photo], names: tuple[str, ...], params: DataParams, unreadable: list[str]
) -> ImageSet:
    images, labels = [], []
    for photo in photos:
        try:
            images.append(decode_image(photo.path.read_bytes(), photo.path.name, photo.path.parent,
                                       params.image_size, params.aspect))  # fmt: skip
            labels.append(names.index(photo.label))
        except DatasetError as err:
            unreadable.append(f"{photo.path}: {err.__cause__ or err}")
    if not images:
        raise DatasetError("no photo of a split could be read")
    return ImageSet(np.stack(images), np.array(labels, dtype=np.int64), names)
