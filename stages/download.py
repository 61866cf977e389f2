"""Stage `download`: fetch and verify the sources, normalise them into arrays."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline import formats, paths
from pipeline.console import run_stage
from pipeline.datasets import DatasetError, ImageSet
from pipeline.files import atomic_path, write_json
from pipeline.params import bounded, load_params
from pipeline.sources import MIRROR_ENV, Source, SourceError, SourceParams, fetch, resolve
from pipeline.tracking import stage_run

log = logging.getLogger(__name__)

# Each source plays one role; these are the formats that can fill it.
ROLES = {
    "resnet8_keras": ("keras-h5",),
    "cifar10": ("cifar10-python", "imagefolder-tar"),
    "perf_samples": ("eembc-ic01-tar", "npy-indices"),
}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class DownloadParams:
    sources: dict[str, SourceParams]
    timeout_s: float = bounded(1, 3600)


@dataclass(frozen=True)
class Params:
    download: DownloadParams


def main() -> None:
    params = load_params(Params).download
    mirror = Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else None
    sources = resolve(params.sources, mirror)
    check_roles(sources)

    with tempfile.TemporaryDirectory(prefix="downloads-") as downloads:
        files = {
            name: fetch(source, Path(downloads), params.timeout_s)
            for name, source in sources.items()
        }
        train, test, perf = read_image_sets(sources, files)
        check_keras_file(files["resnet8_keras"])

        # Everything is read and verified before the first output is written.
        train.save(paths.TRAIN_SET)
        test.save(paths.TEST_SET)
        perf.save(paths.PERF_SET)
        with atomic_path(paths.KERAS_MODEL) as tmp:
            shutil.copyfile(files["resnet8_keras"], tmp)

    provenance = {
        name: {
            "location": source.location if not source.mirrored else Path(source.location).name,
            "mirror": source.mirrored,
            "checksum": source.checksum,
            "format": source.format,
        }
        for name, source in sources.items()
    }
    counts = {"train": len(train.labels), "test": len(test.labels), "perf": len(perf.labels)}
    write_json(paths.PROVENANCE, {"sources": provenance, "images": counts})
    for split, count in counts.items():
        log.info("%s: %d images", split, count)
    with stage_run("download", {"sources": provenance}) as tracker:
        tracker.log_metrics({f"images.{split}": count for split, count in counts.items()})
        tracker.log_artifact(str(paths.PROVENANCE))


def check_roles(sources: dict[str, Source]) -> None:
    for role, accepted in ROLES.items():
        if role not in sources:
            raise SourceError(f"params.yaml: download.sources.{role} is missing")
        if sources[role].format not in accepted:
            raise SourceError(
                f"source {role!r} has format {sources[role].format!r}; "
                f"expected one of {list(accepted)}"
            )


def read_image_sets(
    sources: dict[str, Source], files: dict[str, Path]
) -> tuple[ImageSet, ImageSet, ImageSet]:
    log.info("reading cifar10 (%s)", sources["cifar10"].format)
    if sources["cifar10"].format == "cifar10-python":
        train, test = formats.read_cifar10_python(files["cifar10"])
    else:
        train, test = formats.read_imagefolder_tar(files["cifar10"])
    if sources["perf_samples"].format == "eembc-ic01-tar":
        perf = formats.read_eembc_ic01_tar(files["perf_samples"], test.class_names)
    elif sources["cifar10"].format == "cifar10-python":
        perf = test.subset(formats.read_npy_indices(files["perf_samples"], len(test.labels)))
    else:
        # The indices address the official test batch, whose order other formats do not keep.
        raise DatasetError(
            f"perf_samples (npy-indices) indexes the official CIFAR-10 test batch, but cifar10 "
            f"comes as {sources['cifar10'].format}; use an eembc-ic01-tar perf set instead"
        )
    return train, test, perf


def check_keras_file(path: Path) -> None:
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise DatasetError(f"source 'resnet8_keras': {path} is not an HDF5 (.h5) file")


if __name__ == "__main__":
    run_stage(main)
