import pickle
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.formats import (
    read_cifar10_python,
    read_eembc_ic01_tar,
    read_imagefolder_tar,
    read_npy_indices,
)
from pipeline.data.images import DatasetError, ImageSet
from tests.conftest import LIMITS, add_file, make_imagefolder_tar, random_images


def make_cifar10_python(
    path: Path,
    per_batch: int = 4,
    protocol: int = pickle.DEFAULT_PROTOCOL,
    broken: dict | None = None,
) -> dict[str, np.ndarray]:
    """A tiny tarball in the official cifar-10-python layout (CHW rows, pickled dicts); `broken`
    replaces entries of every batch."""
    written = {}
    with tarfile.open(path, "w:gz") as archive:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for seed, name in enumerate(names):
            images = random_images(per_batch, seed)
            labels = [(seed + i) % 10 for i in range(per_batch)]
            rows = images.transpose(0, 3, 1, 2).reshape(per_batch, -1)  # NHWC -> CHW rows
            batch = {b"data": rows, b"labels": labels, b"batch_label": name.encode()}
            batch.update(broken or {})
            batch = {key: value for key, value in batch.items() if value is not None}
            add_file(archive, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=protocol))
            written[name] = (images, np.array(labels))
        meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
        add_file(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=protocol))
    return written


def test_cifar10_python_becomes_nhwc_arrays(tmp_path: Path) -> None:
    written = make_cifar10_python(tmp_path / "cifar.tar.gz")
    train, test = read_cifar10_python(tmp_path / "cifar.tar.gz", LIMITS)
    assert train.images.shape == (20, 32, 32, 3) and test.images.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(test.images, written["test_batch"][0])
    np.testing.assert_array_equal(train.images[4:8], written["data_batch_2"][0])
    np.testing.assert_array_equal(test.labels, written["test_batch"][1])
    assert train.class_names == tuple(f"c{i}" for i in range(10))


def test_cifar10_python_pickled_with_protocol_2_is_read(tmp_path: Path) -> None:
    """Python 3 writes bytes in protocol 2 as `_codecs.encode(str, 'latin1')`."""
    written = make_cifar10_python(tmp_path / "cifar.tar.gz", protocol=2)
    assert b"_codecs" in pickle.dumps({b"a": b"b"}, protocol=2)
    train, test = read_cifar10_python(tmp_path / "cifar.tar.gz", LIMITS)
    np.testing.assert_array_equal(test.images, written["test_batch"][0])
    assert train.class_names[3] == "c3"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({b"labels": None}, r"has no \['labels'\]"),
        ({b"data": np.zeros((4, 100), np.uint8)}, r"expected uint8 \(N, 3072\)"),
        ({b"data": np.zeros((4, 3072), np.float32)}, "holds data float32"),
        ({b"labels": [1, 2]}, "4 images but labels"),
        ({b"labels": [0, 1, 2, 10]}, r"labels outside 0..9"),
    ],
)
def test_malformed_cifar10_batches_are_named(tmp_path: Path, broken: dict, message: str) -> None:
    make_cifar10_python(tmp_path / "bad.tar.gz", broken=broken)
    with pytest.raises(DatasetError, match=message) as err:
        read_cifar10_python(tmp_path / "bad.tar.gz", LIMITS)
    assert "bad.tar.gz" in str(err.value)


def test_an_image_claiming_a_huge_size_is_a_dataset_error(tmp_path: Path) -> None:
    """Pillow's decompression-bomb check fires on the header's size, before any pixel."""
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(header)) + b"IHDR" + header
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + header))
    png = b"\x89PNG\r\n\x1a\n" + chunk
    with tarfile.open(tmp_path / "f.tar.gz", "w:gz") as archive:
        add_file(archive, "set/train/cat/0.png", png)
        add_file(archive, "set/test/cat/0.png", png)
    with pytest.raises(DatasetError, match="set/train/cat/0.png is not a readable image"):
        read_imagefolder_tar(tmp_path / "f.tar.gz", LIMITS)


def test_cifar10_python_refuses_pickled_code(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
            add_file(archive, f"cifar-10-batches-py/{name}", pickle.dumps({b"x": Exploit()}))
    with pytest.raises(DatasetError, match="refusing to load builtins.print"):
        read_cifar10_python(tmp_path / "evil.tar.gz", LIMITS)


def test_cifar10_python_missing_batch_is_named(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "partial.tar.gz", "w:gz") as archive:
        add_file(archive, "cifar-10-batches-py/data_batch_1", b"")
    with pytest.raises(DatasetError, match="missing .*data_batch_2"):
        read_cifar10_python(tmp_path / "partial.tar.gz", LIMITS)


def test_imagefolder_tar_labels_follow_sorted_class_names(tmp_path: Path) -> None:
    written = make_imagefolder_tar(tmp_path / "f.tar.gz", classes=("dog", "cat"), per_class=2)
    train, test = read_imagefolder_tar(tmp_path / "f.tar.gz", LIMITS)
    assert train.class_names == ("cat", "dog")
    np.testing.assert_array_equal(train.labels, [0, 0, 1, 1])
    # "dog" images were written first, so they come second once labels follow sorted names
    np.testing.assert_array_equal(train.images[2:], written["train"][:2])
    np.testing.assert_array_equal(test.images[:2], written["test"][2:])


def test_imagefolder_tar_with_a_corrupt_image_names_the_member(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "f.tar.gz", "w:gz") as archive:
        add_file(archive, "set/train/cat/0.png", b"not an image")
        add_file(archive, "set/test/cat/0.png", b"not an image")
    with pytest.raises(DatasetError, match="set/train/cat/0.png"):
        read_imagefolder_tar(tmp_path / "f.tar.gz", LIMITS)


def make_ic01_tar(path: Path, images: np.ndarray, labels: list[int]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        rows = []
        for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
            add_file(archive, f"ic01/img_{i}.bin", pixels.tobytes())
            rows.append(f"img_{i}.bin,10,{label}")
        add_file(archive, "ic01/y_labels.csv", "\n".join(rows).encode())


def test_eembc_ic01_reads_hwc_bins_in_label_file_order(tmp_path: Path) -> None:
    images = random_images(3)
    make_ic01_tar(tmp_path / "ic.tar.gz", images, [7, 0, 3])
    perf = read_eembc_ic01_tar(tmp_path / "ic.tar.gz", LIMITS)
    np.testing.assert_array_equal(perf.images, images)
    np.testing.assert_array_equal(perf.labels, [7, 0, 3])
    assert perf.class_names[7] == "horse"


def test_eembc_ic01_rejects_a_short_bin(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "ic.tar.gz", "w:gz") as archive:
        add_file(archive, "ic01/a.bin", b"\0" * 100)
        add_file(archive, "ic01/y_labels.csv", b"a.bin,10,1\n")
    with pytest.raises(DatasetError, match="line 1"):
        read_eembc_ic01_tar(tmp_path / "ic.tar.gz", LIMITS)


def test_npy_indices_must_fit_the_test_set(tmp_path: Path) -> None:
    np.save(tmp_path / "i.npy", np.array([0, 5, 9]))
    np.testing.assert_array_equal(read_npy_indices(tmp_path / "i.npy", 10), [0, 5, 9])
    with pytest.raises(DatasetError, match="outside 0..4"):
        read_npy_indices(tmp_path / "i.npy", 5)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match="not a NumPy index array"):
        read_npy_indices(tmp_path / "o.npy", 5)


def test_image_set_round_trips_through_npz(tmp_path: Path) -> None:
    data = ImageSet(random_images(2), np.array([1, 0]), ("a", "b"))
    data.save(tmp_path / "s.npz")
    loaded = ImageSet.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.images, data.images)
    assert loaded.class_names == ("a", "b")
    with pytest.raises(DatasetError, match="run the `download` stage"):
        ImageSet.load(tmp_path / "absent.npz")
