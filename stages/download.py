"""Stage `download`: fetch and verify the sources, normalise them into arrays: the converted
classifier's CIFAR-10 and perf subset, and the images the pipeline learns from."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.data import formats
from pipeline.data.archives import ArchiveLimits
from pipeline.data.datasets import DATASET_SOURCES, DataParams, Provenance, learning_sets
from pipeline.data.sources import (
    REFERENCE,
    SourceParams,
    check_roles,
    fetch_all,
    mirror_from_env,
    resolve,
)
from pipeline.files import atomic_path
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadParams:
    sources: dict[str, SourceParams]
    limits: ArchiveLimits
    timeout_s: float = bounded(1, 3600)


@dataclass(frozen=True)
class Params:
    download: DownloadParams
    data: DataParams


def main(params: Params) -> None:
    config, data = params.download, params.data
    sources = resolve(config.sources, mirror_from_env(paths.project_root()))
    needed = tuple(dict.fromkeys((*REFERENCE, *DATASET_SOURCES[data.dataset])))
    check_roles(sources, needed)
    with tempfile.TemporaryDirectory(prefix="downloads-") as downloads:
        files = fetch_all(sources, needed, Path(downloads), config.timeout_s)
        formats.check_keras_file(files["resnet8_keras"])
        kinds = {name: sources[name].format for name in needed}
        reference = formats.read_reference_sets(kinds, files, config.limits)
        splits, unreadable, held_out = formats.read_splits(data, files, reference, config.limits,
                                                           paths.PHOTOS)  # fmt: skip
        for problem in unreadable:
            log.warning("skipped an unreadable image: %s", problem)
        train, test = learning_sets(splits, data)

        # Everything is read and verified before the first output is written.
        for image_set, path in zip(
            (*reference, train, test),
            (paths.CIFAR10_TRAIN, paths.CIFAR10_TEST, paths.CIFAR10_PERF, paths.TRAIN_IMAGES,
             paths.TEST_IMAGES), strict=True,
        ):  # fmt: skip
            image_set.save(path)
        with atomic_path(paths.KERAS_MODEL) as tmp:
            shutil.copyfile(files["resnet8_keras"], tmp)

    provenance = Provenance.of(sources, needed, reference, data, train, test, unreadable,
                               held_out)  # fmt: skip
    write_record(paths.PROVENANCE, provenance)
    log.info("%s: %d classes, %s images", data.dataset, len(train.class_names), provenance.images)
    with mlflow_run("download", asdict(params)) as tracker:
        log_metrics(tracker, {"images": provenance.images, "unreadable": len(unreadable)})
        tracker.log_artifact(str(paths.PROVENANCE))


if __name__ == "__main__":
    run_stage(main, Params)
