"""Readers that turn each source format `download` accepts into image sets."""

from __future__ import annotations

import csv
import io
import pickle
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import ClassVar

import numpy as np

from pipeline.data.archives import ArchiveLimits, iter_files
from pipeline.data.datasets import DATASET_SOURCES, DataParams, Species, Splits
from pipeline.data.folder import read_photo_folder
from pipeline.data.images import (
    CHANNELS,
    CIFAR10_CLASSES,
    IMAGE_SUFFIXES,
    Aspect,
    DatasetError,
    ImageSet,
    decode_image,
)

CIFAR10_SIDE = 32


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: no other code can run.

    `_codecs.encode` is how protocol-2 pickles written by Python 3 store bytes; it only turns a
    string into bytes (PyTorch's weights-only unpickler admits it for the same reason).
    """

    ALLOWED: ClassVar = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, member: str, archive: Path, keys: tuple[str, ...]) -> dict:
    try:
        batch = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:
        raise DatasetError(f"{archive}: member {member} is not a CIFAR-10 batch ({err})") from err
    if not isinstance(batch, dict):
        raise DatasetError(f"{archive}: member {member} is not a CIFAR-10 batch (not a dict)")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    missing = [key for key in keys if key not in batch]
    if missing:
        raise DatasetError(f"{archive}: member {member} has no {missing}; not a CIFAR-10 batch")
    return batch


def _batch_images(batch: dict, member: str, archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """A batch's (N, 3072) CHW rows as NHWC images, and its labels, their shapes checked."""
    rows = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    side = CIFAR10_SIDE
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != CHANNELS * side * side:
        raise DatasetError(
            f"{archive}: member {member} holds data {rows.dtype} {rows.shape}; "
            f"expected uint8 (N, {CHANNELS * side * side})"
        )
    if labels.shape != (len(rows),) or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{archive}: member {member} has {len(rows)} images but labels {labels.shape}"
        )
    images = rows.reshape(-1, CHANNELS, side, side).transpose(0, 2, 3, 1)  # CHW rows to NHWC
    return images, labels.astype(np.int64)


def read_cifar10_python(path: Path, limits: ArchiveLimits) -> tuple[ImageSet, ImageSet]:
    """The official `cifar-10-python.tar.gz`: pickled CHW batches; returns (train, test)."""
    batches = {PurePosixPath(name).name: (name, data) for name, data in iter_files(path, limits)}
    expected = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    missing = [name for name in expected if name not in batches]
    if missing:
        raise DatasetError(f"{path}: not in cifar10-python format, missing {missing}")
    meta = _unpickle(batches["batches.meta"][1], "batches.meta", path, ("label_names",))
    class_names = tuple(n.decode() if isinstance(n, bytes) else n for n in meta["label_names"])

    def load(names: list[str]) -> ImageSet:
        parts = [
            _batch_images(_unpickle(batches[n][1], n, path, ("data", "labels")), n, path)
            for n in names
        ]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DatasetError(f"{path}: labels outside 0..{len(class_names) - 1}")
        return ImageSet(np.ascontiguousarray(images), labels, class_names)

    return load(expected[:5]), load(["test_batch"])


def read_imagefolder_tar(path: Path, limits: ArchiveLimits) -> tuple[ImageSet, ImageSet]:
    """A tar of `<top>/{train,test}/<class>/<image>`; class names sorted give the label order."""
    files: dict[str, dict[str, list[tuple[str, bytes]]]] = {
        "train": defaultdict(list),
        "test": defaultdict(list),
    }
    for name, data in iter_files(path, limits):
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


def read_eembc_ic01_tar(
    path: Path, limits: ArchiveLimits, class_names: tuple[str, ...] = CIFAR10_CLASSES
) -> ImageSet:
    """EEMBC EnergyRunner ic01: 32x32x3 uint8 HWC `.bin` files listed in `y_labels.csv`."""
    blobs, rows = {}, None
    side = CIFAR10_SIDE
    for name, data in iter_files(path, limits):
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
        if len(row) != 3 or row[0] not in blobs or len(blobs[row[0]]) != side * side * CHANNELS:
            raise DatasetError(
                f"{path}: y_labels.csv line {line} {row!r} does not name a "
                "3,072-byte .bin file in the archive"
            )
        images.append(np.frombuffer(blobs[row[0]], dtype=np.uint8).reshape(side, side, CHANNELS))
        try:
            labels.append(int(row[2]))
        except ValueError as err:
            raise DatasetError(f"{path}: y_labels.csv line {line}: label {row[2]!r}") from err
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


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def read_reference_sets(
    formats: dict[str, str], files: dict[str, Path], limits: ArchiveLimits
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """The train, test and perf sets of the reference classifier, from the `cifar10` and
    `perf_samples` sources."""
    if formats["cifar10"] == "cifar10-python":
        train, test = read_cifar10_python(files["cifar10"], limits)
    else:
        train, test = read_imagefolder_tar(files["cifar10"], limits)
    if formats["perf_samples"] == "eembc-ic01-tar":
        perf = read_eembc_ic01_tar(files["perf_samples"], limits, test.class_names)
    elif formats["cifar10"] == "cifar10-python":
        perf = test.subset(read_npy_indices(files["perf_samples"], len(test.labels)))
    else:
        # The indices address the official test batch, whose order other formats do not keep.
        raise DatasetError(
            f"perf_samples (npy-indices) indexes the official CIFAR-10 test batch, but cifar10 "
            f"comes as {formats['cifar10']}; use an eembc-ic01-tar perf set instead"
        )
    return train, test, perf


def read_splits(
    params: DataParams,
    files: dict[str, Path],
    reference: tuple[ImageSet, ImageSet, ImageSet],
    limits: ArchiveLimits,
    photos: Path,
) -> tuple[Splits, list[str], list[str]]:
    """The chosen dataset's train and test split, the images no decoder could open, and the
    test photos a seeded split of the `photos` folder held out."""
    if params.dataset == "cifar10":
        return Splits(reference[0], reference[1], {}), [], []
    if params.dataset == "folder":
        return read_photo_folder(photos, params, limits)
    images, annotations = (files[name] for name in DATASET_SOURCES["oxford_pets"])
    return (*read_oxford_pets(images, annotations, limits, params.image_size, params.aspect), [])


PET_SPECIES: dict[str, Species] = {"1": "cat", "2": "dog"}


def read_pet_lists(path: Path, limits: ArchiveLimits) -> tuple[dict[str, str], dict[str, Species]]:
    """From the official annotations.tar.gz: each image's split (`trainval`, `test`) and each
    breed's species. A line is `<breed>_<n> <class id> <species> <breed id>`."""
    split_of: dict[str, str] = {}
    species: dict[str, Species] = {}
    for name, data in iter_files(path, limits):
        split = PurePosixPath(name).name.removesuffix(".txt")
        if PurePosixPath(name).parent.name != "annotations" or split not in ("trainval", "test"):
            continue
        for number, line in enumerate(data.decode().splitlines(), 1):
            fields = line.split()
            if not fields or line.startswith("#"):
                continue
            if len(fields) != 4 or fields[2] not in PET_SPECIES:
                raise DatasetError(f"{path}: {name} line {number} {line!r} is not an image entry")
            split_of[fields[0]] = split
            species[fields[0].rsplit("_", 1)[0]] = PET_SPECIES[fields[2]]
    if not {"trainval", "test"} <= set(split_of.values()):
        raise DatasetError(
            f"{path}: no annotations/trainval.txt and annotations/test.txt; not the "
            "Oxford-IIIT Pet annotations archive"
        )
    return split_of, species


def read_oxford_pets(
    images: Path,
    annotations: Path,
    limits: ArchiveLimits,
    image_size: int,
    aspect: Aspect = "squash",
) -> tuple[Splits, list[str]]:
    """The official Oxford-IIIT Pet archives: the split the annotations give, one class per
    breed named as in the file names, every image that Pillow reads converted to RGB and resized.
    Returns the splits and the images that could not be read (an error past
    `limits.unreadable_images`)."""
    split_of, species = read_pet_lists(annotations, limits)
    decoded, unreadable, found = {}, [], set()
    for name, data in iter_files(images, limits):
        stem = PurePosixPath(name).stem
        if stem in split_of and PurePosixPath(name).parent.name == "images":
            found.add(stem)
            try:
                decoded[stem] = decode_image(data, name, images, image_size, aspect)
            except DatasetError as err:
                unreadable.append(f"{name}: {err.__cause__ or err}")
    unreadable += [
        f"{stem}: listed, not in {images.name}" for stem in split_of if stem not in found
    ]
    if len(unreadable) > limits.unreadable_images:
        raise DatasetError(
            f"{images}: {len(unreadable)} images cannot be read, over download.limits."
            f"unreadable_images ({limits.unreadable_images}); the first: {unreadable[:5]}"
        )
    names = tuple(sorted(species))
    splits = [
        _labelled({s: image for s, image in decoded.items() if split_of[s] == split}, names, images)
        for split in ("trainval", "test")
    ]
    return Splits(splits[0], splits[1], species), unreadable


def _labelled(images: dict[str, np.ndarray], names: tuple[str, ...], archive: Path) -> ImageSet:
    if not images:
        raise DatasetError(f"{archive}: no readable image of a split; not the Pet images archive")
    stems = sorted(images)
    labels = np.array([names.index(stem.rsplit("_", 1)[0]) for stem in stems], dtype=np.int64)
    return ImageSet(np.stack([images[stem] for stem in stems]), labels, names)


def check_keras_file(path: Path) -> None:
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise DatasetError(f"source 'resnet8_keras': {path} is not an HDF5 (.h5) file")
