"""Where each source comes from (its URL, or a file of an offline mirror) and checksum checks."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

import yaml
from tqdm import tqdm

from pipeline.errors import PipelineError
from pipeline.schema import SchemaError, parse

log = logging.getLogger(__name__)

MIRROR_ENV = "DATA_MIRROR"
Format = Literal[
    "cifar10-python", "imagefolder-tar", "eembc-ic01-tar", "npy-indices", "keras-h5",
    "oxford-pets-images", "oxford-pets-annotations",
]  # fmt: skip
HASHES = ("sha256", "md5")
# Each source plays one role; these are the formats that can fill it.
ROLES: dict[str, tuple[Format, ...]] = {
    "resnet8_keras": ("keras-h5",),
    "cifar10": ("cifar10-python", "imagefolder-tar"),
    "perf_samples": ("eembc-ic01-tar", "npy-indices"),
    "oxford_pets_images": ("oxford-pets-images",),
    "oxford_pets_annotations": ("oxford-pets-annotations",),
}
REFERENCE = ("resnet8_keras", "cifar10", "perf_samples")  # the converted classifier's sources


class SourceError(PipelineError):
    """A source could not be fetched, or its bytes are not the ones declared."""


@dataclass(frozen=True)
class SourceParams:
    """A source as params.yaml declares it: `checksum` is `<sha256|md5>:<hex digest>`."""

    url: str
    checksum: str
    format: Format


@dataclass(frozen=True)
class MirrorEntry:
    """A source as a mirror's sources.yaml declares it; `file` is relative to the mirror."""

    file: str
    sha256: str
    format: Format


@dataclass(frozen=True)
class SourceRecord:
    """Where a source's bytes came from, as reports/provenance.json keeps it."""

    location: str  # the URL, or the file's name in the mirror
    mirror: bool
    checksum: str
    format: Format


@dataclass(frozen=True)
class Source:
    """A resolved source: where its bytes are, what they must hash to, how to read them."""

    name: str
    location: str
    checksum: str
    format: Format
    mirrored: bool

    def record(self) -> SourceRecord:
        shown = Path(self.location).name if self.mirrored else self.location
        return SourceRecord(shown, self.mirrored, self.checksum, self.format)


def mirror_from_env(root: Path) -> Path | None:
    """$DATA_MIRROR as an absolute path; a relative one is taken from `root`, the project, so
    that it means the same wherever a stage runs (a queued experiment runs in a copy)."""
    value = os.environ.get(MIRROR_ENV)
    return (root / Path(value).expanduser()).resolve() if value else None


def resolve(declared: dict[str, SourceParams], mirror: Path | None) -> dict[str, Source]:
    """Each declared source, replaced by the mirror's entry of the same name when there is one."""
    sources = {
        name: Source(name, spec.url, spec.checksum, spec.format, mirrored=False)
        for name, spec in declared.items()
    }
    if mirror is None:
        return sources
    for name, entry in read_mirror_index(mirror).items():
        if name not in sources:
            log.warning("mirror %s lists %r, not declared in params.yaml; ignored", mirror, name)
            continue
        location = str((mirror / entry.file).resolve())
        sources[name] = Source(name, location, f"sha256:{entry.sha256}", entry.format, True)
    return sources


def check_roles(sources: dict[str, Source], needed: tuple[str, ...]) -> None:
    """Every `needed` source is declared, in a format that can fill its role."""
    for role in needed:
        accepted = ROLES[role]
        if role not in sources:
            raise SourceError(f"params.yaml: download.sources.{role} is missing")
        if sources[role].format not in accepted:
            raise SourceError(
                f"source {role!r} has format {sources[role].format!r}; "
                f"expected one of {list(accepted)}"
            )


def read_mirror_index(mirror: Path) -> dict[str, MirrorEntry]:
    index = mirror / "sources.yaml"
    if not index.is_file():
        raise SourceError(
            f"{MIRROR_ENV}={mirror}: no sources.yaml there; point {MIRROR_ENV} at a mirror folder"
        )
    try:
        document = yaml.safe_load(index.read_text()) or {}
        return parse(dict[str, MirrorEntry], document, where=str(index))
    except (yaml.YAMLError, SchemaError) as err:
        raise SourceError(f"{index}: invalid mirror index: {err}") from err


def fetch_all(
    sources: dict[str, Source], names: tuple[str, ...], downloads: Path, timeout_s: float
) -> dict[str, Path]:
    """Each named source as a verified local file. When one of several that make up a dataset
    fails, the error names every file the dataset needs."""
    files = {}
    for name in names:
        try:
            files[name] = fetch(sources[name], downloads, timeout_s)
        except SourceError as err:
            if name in REFERENCE:
                raise
            needed = [PurePosixPath(urlparse(sources[n].location).path).name for n in names
                      if n not in REFERENCE]  # fmt: skip
            raise SourceError(
                f"the dataset needs {' and '.join(needed)} (download.sources "
                f"{', '.join(n for n in names if n not in REFERENCE)}), and {err}"
            ) from err
    return files


def fetch(source: Source, downloads: Path, timeout_s: float) -> Path:
    """A local file holding the source's bytes, checksum verified."""
    if source.mirrored:
        path = Path(source.location)
        if not path.is_file():
            raise SourceError(
                f"source {source.name!r}: mirror file {path} not found; "
                f"check {MIRROR_ENV} and the mirror's sources.yaml"
            )
    else:
        path = downloads / source.name
        download(source, path, timeout_s)
    verify_checksum(path, source.checksum, source.name)
    return path


def download(source: Source, path: Path, timeout_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(source.location, timeout=timeout_s) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(path, "wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=source.name) as bar,
            ):
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        path.unlink(missing_ok=True)
        raise SourceError(
            f"source {source.name!r}: cannot download {source.location}: {err}. "
            f"Without network access, set {MIRROR_ENV} to a folder holding sources.yaml "
            "and the files it names (for example ../shared/mirror)."
        ) from err


def verify_checksum(path: Path, checksum: str, name: str) -> None:
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in HASHES or not expected:
        raise SourceError(f"source {name!r}: checksum {checksum!r} must be '<sha256|md5>:<hex>'")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise SourceError(
            f"source {name!r}: {algorithm} of {path} is {digest.hexdigest()}, expected {expected}; "
            "the file is corrupt, truncated or not the declared one"
        )
