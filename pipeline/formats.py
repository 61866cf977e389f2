"""Readers that turn each source format `download` accepts into image sets."""

from __future__ import annotations

import csv
import io
import pickle
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import ClassVar

import numpy as np

from pipeline.archives import iter_files
from pipeline.datasets import CIFAR10_CLASSES, IMAGE_SUFFIXES, DatasetError, ImageSet, decode_image


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: no other code can run."""

    ALLOWED: ClassVar = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, member: str, archive: Path) -> dict:
    try:
        batch = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:
        raise DatasetError(f"{archive}: member {member} is not a CIFAR-10 batch ({err})") from err
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}


def read_cifar10_python(path: Path) -> tuple[ImageSet, ImageSet]:
    """The official `cifar-10-python.tar.gz`: pickled CHW batches; returns (train, test)."""
    batches = {PurePosixPath(name).name: (name, data) for name, data in iter_files(path)}
    expected = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    missing = [name for name in expected if name not in batches]
    if missing:
        raise DatasetError(f"{path}: not in cifar10-python format, missing {missing}")
    meta = _unpickle(batches["batches.meta"][1], "batches.meta", path)
    class_names = tuple(n.decode() if isinstance(n, bytes) else n for n in meta["label_names"])

    def load(names: list[str]) -> ImageSet:
        parts = [_unpickle(batches[name][1], name, path) for name in names]
        flat = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts])
        images = flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows to NHWC
        labels = np.concatenate([np.asarray(p["labels"], dtype=np.int64) for p in parts])
        return ImageSet(np.ascontiguousarray(images), labels, class_names)

    return load(expected[:5]), load(["test_batch"])


def read_imagefolder_tar(path: Path) -> tuple[ImageSet, ImageSet]:
    """A tar of `<top>/{train,test}/<class>/<image>`; class names sorted give the label order."""
    files: dict[str, dict[str, list[tuple[str, bytes]]]] = {
        "train": defaultdict(list),
        "test": defaultdict(list),
    }
    for name, data in iter_files(path):
        parts = PurePosixPath(name).parts
        if len(parts) == 4 and parts[1] in files and parts[3].lower().endswith(IMAGE_SUFFIXES):
            files[parts[1]][parts[2]].append((name, data))
    if not files["train"] or not files["test"]:
        raise DatasetError(f"{path}: expected <top>/train/<class>/ and <top>/test/<class>/ images")
    class_names = tuple(sorted(files["train"]))
    if tuple(sorted(files["test"])) != class_names:
        raise DatasetError(
            f"{path}: train classes {class_names} differ from test classes "
            f"{tuple(sorted(files['test']))}"
        )
    return tuple(_decode_split(files[split], class_names, path) for split in ("train", "test"))


def _decode_split(
    by_class: dict[str, list[tuple[str, bytes]]], class_names: tuple[str, ...], archive: Path
) -> ImageSet:
    images, labels = [], []
    for label, class_name in enumerate(class_names):
        for name, data in sorted(by_class[class_name]):
            images.append(decode_image(data, name, archive))
            labels.append(label)
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise DatasetError(f"{archive}: images differ in size {sorted(shapes)}")
    return ImageSet(np.stack(images), np.array(labels, dtype=np.int64), class_names)


def read_eembc_ic01_tar(path: Path, class_names: tuple[str, ...] = CIFAR10_CLASSES) -> ImageSet:
    """EEMBC EnergyRunner ic01: 32x32x3 uint8 HWC `.bin` files listed in `y_labels.csv`."""
    blobs, rows = {}, None
    for name, data in iter_files(path):
        base = PurePosixPath(name).name
        if base == "y_labels.csv":
            rows = list(csv.reader(io.StringIO(data.decode())))
        elif base.endswith(".bin"):
            blobs[base] = data
    if rows is None:
        raise DatasetError(f"{path}: no y_labels.csv; not in eembc-ic01-tar format")
    images, labels = [], []
    for line, row in enumerate(rows, 1):
        if not row:
            continue
        if len(row) != 3 or row[0] not in blobs or len(blobs[row[0]]) != 32 * 32 * 3:
            raise DatasetError(
                f"{path}: y_labels.csv line {line} {row!r} does not name a "
                "3,072-byte .bin file in the archive"
            )
        images.append(np.frombuffer(blobs[row[0]], dtype=np.uint8).reshape(32, 32, 3))
        labels.append(int(row[2]))
    if not images or not all(0 <= label < len(class_names) for label in labels):
        raise DatasetError(f"{path}: empty, or labels outside 0..{len(class_names) - 1}")
    return ImageSet(np.stack(images), np.array(labels, dtype=np.int64), class_names)


def read_npy_indices(path: Path, count: int) -> np.ndarray:
    """An int array of indices into a set of `count` images (no pickles allowed)."""
    try:
        indices = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DatasetError(f"{path}: not a NumPy index array ({err})") from err
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise DatasetError(
            f"{path}: expected a 1-D integer array, got {indices.dtype} {indices.shape}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise DatasetError(f"{path}: indices outside 0..{count - 1}")
    return indices.astype(np.int64)
