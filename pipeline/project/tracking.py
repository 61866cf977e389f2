"""MLflow runs for stages: params, metrics and small artifacts, tagged with commit and DVC exp.

The store is the project's own SQLite file unless MLFLOW_TRACKING_URI names another. A stage
whose tracking server cannot be reached stops before doing any work (`run_stage`); one that loses
the server midway fails when it logs, its outputs intact on disk, and DVC, which then records
nothing, runs it again on the next `dvc repro`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import PipelineError, run_main
from pipeline.params import load_params
from pipeline.project.paths import project_root
from pipeline.schema import flatten

log = logging.getLogger(__name__)
P = TypeVar("P")

EXPERIMENT = "resnet8-dit"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store sit beside the database file; servers choose their own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def require_server(timeout_s: float = 10) -> None:
    """Raise unless a tracking server named by an http(s) URI answers its health check."""
    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as err:
        raise PipelineError(
            f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) does not answer ({err}); the "
            "stage stopped before doing any work. Start the server, or unset "
            "MLFLOW_TRACKING_URI to log to the project's own store."
        ) from err


def run_stage(main: Callable[[P], None], schema: type[P]) -> None:
    """Run a stage's `main` on its params (see `run_main`): before any work, the tracking server
    is checked, and the params are read and validated against the stage's `schema`."""

    def stage() -> None:
        require_server()
        main(load_params(schema))

    stage.__module__ = main.__module__
    run_main(stage)


@contextlib.contextmanager
def mlflow_run(stage: str, params: Mapping[str, Any]) -> Iterator[Any]:
    """An MLflow run for one stage execution, with its params logged."""
    import mlflow  # slow to import; only stages that track pay for it

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_location(uri))
    mlflow.set_experiment(EXPERIMENT)
    tags = {"stage": stage, "git_commit": git_commit()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    name = f"{stage}-{tags.get('dvc_exp_name', 'workspace')}"
    with mlflow.start_run(run_name=name, tags=tags) as run:
        mlflow.log_params(flatten(params))
        log.info("MLflow run %s (%s) at %s", run.info.run_id, name, tracking_uri())
        yield mlflow


def log_metrics(tracker: Any, metrics: Mapping[str, Any], prefix: str = "") -> None:
    """Log the numeric leaves of a nested metrics mapping."""
    numeric = {
        k: float(v)
        for k, v in flatten(metrics, prefix).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    tracker.log_metrics(numeric)
