"""Image folders (one sub-folder per class, or the class as a file-name prefix) as image sets,
and where the generator's training images come from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.data.images import IMAGE_SUFFIXES, DatasetError, ImageSet, decode_image
from pipeline.schema import bounded

ClassFrom = Literal["folder", "prefix"]


@dataclass(frozen=True)
class DataParams:
    """The `train_dit.data` params."""

    source: Literal["arrays", "imagefolder"]
    path: str  # arrays: an image-set .npz (data/cifar10/train.npz); imagefolder: a folder
    class_from: ClassFrom  # imagefolder: the class is the sub-folder, or the file-name prefix
    classes: list[str] | None  # keep only these classes (all when null)
    image_size: int = bounded(8, 512)


def load_training_images(params: DataParams) -> ImageSet:
    classes = tuple(params.classes) if params.classes is not None else None
    if params.source == "imagefolder":
        return load_image_folder(Path(params.path), params.image_size, params.class_from, classes)
    data = ImageSet.load(Path(params.path))
    if data.image_size != params.image_size:
        raise DatasetError(
            f"train_dit.data.image_size is {params.image_size} but the images of {params.path} "
            f"are {data.image_size}x{data.image_size}"
        )
    return data if classes is None else data.select(classes)


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
