"""Shared fixtures: the project root, the data mirror, and small data the tests build."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


@pytest.fixture(scope="session", autouse=True)
def _isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests log their MLflow runs to a throw-away store, not the project's."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"


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
    module: str, cwd: Path, *args: str, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `python -m <module>` in `cwd` with the project importable."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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
