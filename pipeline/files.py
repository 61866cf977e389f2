"""Files in and out: atomic writes (a reader sees the old file or the new one, never half of one)
and a clear error for an input an earlier stage has not written."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from pipeline.errors import PipelineError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}"
    )  # keep the suffix: savers check it
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it replaces `path`, whole, only if the block
    succeeds. The old folder is renamed aside first and removed last, so it is never half gone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual mode
    aside = tmp.with_suffix(".old")
    try:
        yield tmp
        if path.exists():
            os.replace(path, aside)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces `path` when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle


def file_digest(path: Path | str, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def write_json(path: Path | str, data: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_text(path: Path | str, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_csv(path: Path | str, header: list[str], rows: Iterable[Sequence[Any]]) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def save_npz(path: Path | str, **arrays: np.ndarray) -> None:
    """Like `np.savez`, but byte-stable: members carry a fixed date, so equal arrays make equal
    files and DVC sees no change where there is none."""
    with atomic_open(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def require_file(path: Path | str, what: str) -> Path:
    if not Path(path).is_file():
        raise PipelineError(f"{path}: {what} not found; run the stage that writes it (dvc repro)")
    return Path(path)
