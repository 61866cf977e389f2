"""Stage `register`: the shipped models into the MLflow Model Registry, whatever stages ran.

`champion` moves to them when every gate of `validate` passed; otherwise they become
`candidate` and `champion` stays. A file is registered once, by its content, so a rerun
registers nothing new. The receipt (`reports/registered.json`, git-ignored) is missing in a
fresh clone or after `dvc pull`, so the next `dvc repro` registers into the local store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.data.images import ImageSet
from pipeline.files import write_json
from pipeline.project import paths
from pipeline.project.registry import file_sha256, register
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.quality.gates import ValidationMetrics
from pipeline.quality.release import released_models
from pipeline.records import read_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Params:
    """Registering reads no params: the verdict is validate's."""


def main(params: Params) -> None:
    verdict = read_record(ValidationMetrics, paths.metrics("validate"), "metrics of `validate`")
    models = released_models(ImageSet.load(paths.TEST_IMAGES))
    with mlflow_run("register", {}) as tracker:
        registered = register(models, passed=verdict.passed)
        tracker.set_tags({f"registered.{name}": f"{v['version']} {v['alias']}"
                          for name, v in registered.items()})  # fmt: skip
        new = [name for name, v in registered.items() if v["new"]]
        counts = {"models": len(registered), "registered_anew": len(new),
                  "passed": int(verdict.passed)}  # fmt: skip
        log_metrics(tracker, counts)
    log.info(
        "%d models registered anew, %d registered before", len(new), len(registered) - len(new)
    )
    # what was registered, by content and alias: the same on every machine and store
    receipt = {name: {"sha256": file_sha256(path), "alias": registered[name]["alias"]}
               for name, (path, _) in models.items()}  # fmt: skip
    write_json(paths.REGISTERED, receipt)


if __name__ == "__main__":
    run_stage(main, Params)
