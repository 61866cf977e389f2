"""Shared fixtures: the project root, the data mirror, and small data the tests build."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import yaml
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from pipeline.data.archives import ArchiveLimits
from pipeline.generator.dit import DiTConfig
from pipeline.generator.presets import PRESETS
from tools.workspace import CODE, copy_project

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"
LIMITS = ArchiveLimits(member_bytes=2**28, total_bytes=2**32, members=10**6, unreadable_images=2)


def tiny_dit(image_size: int = 8, num_classes: int = 3, **changes: object) -> DiTConfig:
    """The `tiny` preset's DiT for images of `image_size` and `num_classes` classes."""
    architecture = dataclasses.replace(PRESETS["tiny"]["train_dit.model"], **changes)
    return DiTConfig.of(architecture, image_size, num_classes)


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers share the cores: one thread each, in the tests and in the stages
    they run, or two workers' thread pools would fight over every core."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests log their MLflow runs to a throw-away store, not the project's."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"


@pytest.fixture(autouse=True)
def _tracking_uri_restored() -> Iterator[None]:
    """MLflow's `set_tracking_uri` also writes MLFLOW_TRACKING_URI for subprocesses; a test that
    points it at a server puts the session's store back, or later stages would find it down."""
    session_store = os.environ["MLFLOW_TRACKING_URI"]
    yield
    os.environ["MLFLOW_TRACKING_URI"] = session_store
    if (mlflow := sys.modules.get("mlflow")) is not None:
        mlflow.set_tracking_uri(session_store)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The offline data mirror; under CI=true its absence is a failure, never a skip."""
    path = Path(os.environ.get("DATA_MIRROR") or DEFAULT_MIRROR).resolve()
    if not (path / "sources.yaml").is_file():
        message = f"data mirror not found at {path}; set DATA_MIRROR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_module(
    module: str,
    cwd: Path,
    *args: str,
    env: dict | None = None,
    timeout: float = 600,
    code: str | None = None,
    own_code: bool = False,
) -> subprocess.CompletedProcess:
    """Run `python -m <module>` (or `python -c <code>`) in `cwd` with the project importable:
    this checkout's, or with `own_code` the copy in `cwd` (see copy_code)."""
    importable = cwd if own_code else ROOT
    environment = {**os.environ, "PYTHONPATH": str(importable), **(env or {})}
    command = ["-c", code] if code is not None else ["-m", module, *args]
    return subprocess.run(
        [sys.executable, *command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_code(directory: Path) -> Path:
    """The stages, the library and dvc.yaml copied into `directory`, to run and edit there."""
    return copy_project(directory, only=CODE)


def write_params(directory: Path, params: dict) -> None:
    (directory / "params.yaml").write_text(yaml.safe_dump(params))


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def random_images(count: int, seed: int = 0, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def make_imagefolder_tar(
    path: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3
) -> dict[str, np.ndarray]:
    """A tiny imagefolder-tar; returns the images written per split, in label order."""
    written = {}
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            images = random_images(per_class * len(classes), seed=len(split))
            for i, pixels in enumerate(images):
                name = f"set/{split}/{classes[i // per_class]}/{i % per_class:04d}.png"
                add_file(archive, name, png_bytes(pixels))
            written[split] = images
    return written


def write_gzip_bomb(path: Path, member: str, size: int) -> Path:
    """A valid .tar.gz whose one member is `size` zero bytes: a few MB on disk, any size inside.

    The deflate stream repeats one fully flushed block of zeros, so no back-reference crosses a
    block and the stream stays valid without compressing `size` bytes.
    """
    info = tarfile.TarInfo(member)
    info.size = size
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    tail = -size % 512 + 1024  # padding to a whole block, then the end-of-archive blocks
    chunk = bytes(1 << 24)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zeros.compress(chunk) + zeros.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # gzip header, no name, no time
        first = zlib.compressobj(9, zlib.DEFLATED, -15)
        out.write(first.compress(header) + first.flush(zlib.Z_FULL_FLUSH))
        remaining = size + tail
        while remaining >= len(chunk):
            out.write(block)
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        last = zlib.compressobj(9, zlib.DEFLATED, -15)
        out.write(last.compress(bytes(remaining)) + last.flush())
        crc = zlib.crc32(bytes(remaining), crc)
        out.write((crc & 0xFFFFFFFF).to_bytes(4, "little"))
        out.write(((len(header) + size + tail) & 0xFFFFFFFF).to_bytes(4, "little"))
    return path


def _initializer(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def tiny_classifier_onnx(path: Path) -> Path:
    """NHWC uint8-range input -> 2 Conv+Relu -> AveragePool -> Gemm-like MatMul+Add -> Softmax."""
    rng = np.random.default_rng(0)
    inits = [
        _initializer(
            "w1", rng.normal(0, np.sqrt(2 / 27), (8, 3, 3, 3)) / 255
        ),  # /255: raw pixel input
        _initializer("b1", np.zeros(8)),
        _initializer("w2", rng.normal(0, np.sqrt(2 / 72), (16, 8, 3, 3))),
        _initializer("b2", np.zeros(16)),
        _initializer("wd", rng.normal(0, 3.0, (16, 10))),  # large: well-separated logits
        _initializer("bd", np.zeros(10)),
        numpy_helper.from_array(np.array([-1, 16], dtype=np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["pool"], kernel_shape=[8, 8]),
        helper.make_node("Reshape", ["pool", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "wd"], ["mm"]),
        helper.make_node("Add", ["mm", "bd"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 16, 16, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    )  # ORT 1.31 reads IR <= 13
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


PET_BREEDS = {"Abyssinian": "1", "Bengal": "1", "Sphynx": "1", "beagle": "2", "pug": "2"}
# The real archive's twelve cat breeds and three of its dogs: the `cat-breeds` preset's classes.
ALL_CAT_BREEDS = (
    "Abyssinian",
    "Bengal",
    "Birman",
    "Bombay",
    "British_Shorthair",
    "Egyptian_Mau",
    "Maine_Coon",
    "Persian",
    "Ragdoll",
    "Russian_Blue",
    "Siamese",
    "Sphynx",
)
PET_BREEDS_FULL = {**dict.fromkeys(ALL_CAT_BREEDS, "1"),
                   **dict.fromkeys(("american_bulldog", "beagle", "pug"), "2")}  # fmt: skip


def image_bytes(pixels: np.ndarray, fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def make_pet_archives(
    folder: Path, per_breed: int = 6, size: int = 48, breeds: dict[str, str] = PET_BREEDS
) -> dict[str, Path]:
    """images.tar.gz and annotations.tar.gz in the official Oxford-IIIT Pet layout, the images
    made here (`size` wide, three quarters as tall, as photos are not square). As in the real
    archive, a few files are not what their names say: PNG and GIF bytes under `.jpg`, a CMYK
    and a grayscale JPEG, an RGBA PNG, and one that no decoder opens (`Sphynx_0.jpg`). Half of
    each breed is in trainval, half in test; `breeds` maps each breed to its species (1 cat)."""
    folder.mkdir(parents=True, exist_ok=True)
    odd = {"Abyssinian_1": ("PNG", "RGB"), "Bengal_1": ("GIF", "P"), "beagle_1": ("JPEG", "CMYK"),
           "pug_1": ("JPEG", "L"), "Sphynx_3": ("PNG", "RGBA")}  # fmt: skip
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    with tarfile.open(folder / "images.tar.gz", "w:gz") as archive:
        for c, (breed, species) in enumerate(breeds.items()):
            images = random_images(per_breed, seed=c, size=size)[:, : size * 3 // 4]
            images[:, : size // 3] = 255 * c // len(breeds)  # each breed its own shade, to learn
            for i, pixels in enumerate(images):
                stem = f"{breed}_{i}"
                fmt, mode = odd.get(stem, ("JPEG", "RGB"))
                data = (
                    b"\x00 not an image" if stem == "Sphynx_0" else image_bytes(pixels, fmt, mode)
                )
                add_file(archive, f"images/{stem}.jpg", data)
                split = "trainval" if i % 2 == 0 else "test"
                lines[split].append(f"{stem} {c + 1} {species} {c + 1}")
        add_file(archive, "images/Abyssinian_100.mat", b"not listed: skipped")
    with tarfile.open(folder / "annotations.tar.gz", "w:gz") as archive:
        for split, rows in lines.items():
            add_file(archive, f"annotations/{split}.txt", "\n".join(rows).encode() + b"\n")
        listed = "\n".join(["#Image CLASS-ID SPECIES BREED ID", *lines["trainval"], *lines["test"]])
        add_file(archive, "annotations/list.txt", listed.encode())
    return {"oxford_pets_images": folder / "images.tar.gz",
            "oxford_pets_annotations": folder / "annotations.tar.gz"}  # fmt: skip


def photo(shade: int, size: tuple[int, int] = (40, 30), seed: int = 0) -> np.ndarray:
    """A photo `size` (width, height) of one shade with a little noise, so each is its own."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), shade, np.uint8)
    return pixels + rng.integers(0, 8, pixels.shape, dtype=np.uint8)


def write_photos(root: Path, per_class: dict[str, int], seed: int = 0) -> None:
    """`root/<class>/NNN.jpg`: each class its own shade, so that it can be learnt."""
    for c, (label, count) in enumerate(per_class.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = photo(60 * c, seed=seed + i)
            (root / label / f"{i:03d}.jpg").write_bytes(image_bytes(pixels, "JPEG"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mirror_with_pets(folder: Path, mirror: Path, **archive: Any) -> Path:
    """A mirror folder holding the real mirror's sources and a small Pet archive pair (made by
    make_pet_archives with `archive`)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = yaml.safe_load((mirror / "sources.yaml").read_text())
    for entry in index.values():
        (folder / entry["file"]).symlink_to(mirror / entry["file"])
    for name, path in make_pet_archives(folder / "pets", **archive).items():
        index[name] = {"file": f"pets/{path.name}", "sha256": sha256(path),
                       "format": name.replace("oxford_pets_", "oxford-pets-")}  # fmt: skip
    (folder / "sources.yaml").write_text(yaml.safe_dump(index))
    return folder
