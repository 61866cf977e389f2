"""Stage `download`: fetch and verify the sources, normalise them into arrays."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.data import formats
from pipeline.data.archives import ArchiveLimits
from pipeline.data.sources import SourceParams, check_roles, fetch, mirror_from_env, resolve
from pipeline.files import atomic_path, write_json
from pipeline.project import paths
from pipeline.project.tracking import mlflow_run, run_stage
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


def main(params: Params) -> None:
    config = params.download
    sources = resolve(config.sources, mirror_from_env(paths.project_root()))
    check_roles(sources)

    with tempfile.TemporaryDirectory(prefix="downloads-") as downloads:
        files = {
            name: fetch(source, Path(downloads), config.timeout_s)
            for name, source in sources.items()
        }
        log.info("reading cifar10 (%s)", sources["cifar10"].format)
        kinds = {name: source.format for name, source in sources.items()}
        train, test, perf = formats.read_image_sets(kinds, files, config.limits)
        formats.check_keras_file(files["resnet8_keras"])

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
    with mlflow_run("download", {"sources": provenance}) as tracker:
        tracker.log_metrics({f"images.{split}": count for split, count in counts.items()})
        tracker.log_artifact(str(paths.PROVENANCE))


if __name__ == "__main__":
    run_stage(main, Params)
