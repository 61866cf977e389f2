"""ONNX models in MLflow: each logged as an MLflow model in the run of the stage that wrote it
(signature, input example, the file's sha256 as a tag), and registered by `validate`, whose
verdict moves an alias: `champion` to versions that passed every gate, `candidate` otherwise.
A file is registered once: its sha256 (and the md5 dvc.lock records) tag its version.

A consumer loads the passing model by its alias:

    mlflow.onnx.load_model("models:/classifier@champion")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from pipeline.files import file_digest

log = logging.getLogger(__name__)

CHAMPION, CANDIDATE = "champion", "candidate"


def file_sha256(path: Path) -> str:
    return file_digest(path)


def log_onnx_model(path: Path, name: str, example: dict[str, np.ndarray]) -> Any:
    """Log the ONNX file at `path` as an MLflow model of the active run; `example` feeds every
    input (a small batch), and the outputs ONNX Runtime gives for it complete the signature."""
    import mlflow.onnx
    from mlflow.models import infer_signature

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, example),
                       strict=True))  # fmt: skip
    return mlflow.onnx.log_model(
        onnx.load(str(path)),
        name=name,
        signature=infer_signature(example, outputs),
        input_example=example,
        save_as_external_data=False,
        # stated, not inferred: MLflow's inference runs a subprocess, about 2 s a model
        pip_requirements=[*mlflow.onnx.get_default_pip_requirements(), f"numpy=={np.__version__}"],
        tags={"sha256": file_sha256(path), "file": path.as_posix()},
    )


def logged_model_uri(path: Path, experiment_id: str) -> str | None:
    """The URI of the latest MLflow model logged from exactly these bytes, if any."""
    import mlflow

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"tags.sha256 = '{file_sha256(path)}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
        max_results=1,
        output_format="list",
    )
    return found[0].model_uri if found else None


def register(models: dict[str, tuple[Path, dict[str, np.ndarray]]], passed: bool) -> dict:
    """Register each model file (by its registry name) once per content: a version of the same
    sha256 is reused, else the file is registered from the run that logged it (or, if none did,
    from the active run). `champion` (passed) or `candidate` then points at that version.
    Returns each name's version and alias."""
    import mlflow
    from mlflow import MlflowClient

    client, run = MlflowClient(), mlflow.active_run()
    assert run is not None, "register within an MLflow run"
    alias = CHAMPION if passed else CANDIDATE
    registered = {}
    for name, (path, example) in models.items():
        sha256 = file_sha256(path)
        found = client.search_model_versions(f"name = '{name}' and tags.sha256 = '{sha256}'")
        if found:
            version = max(found, key=lambda v: int(v.version))
        else:
            uri = logged_model_uri(path, run.info.experiment_id)
            uri = uri or log_onnx_model(path, name, example).model_uri
            tags = {"sha256": sha256, "dvc_md5": file_digest(path, "md5"), "passed": str(passed)}
            version = mlflow.register_model(uri, name, tags=tags)
        client.set_registered_model_alias(name, alias, version.version)
        registered[name] = {"version": int(version.version), "alias": alias, "new": not found}
        log.info("%s version %s (%s) is %s", name, version.version,
                 "new" if not found else "registered before", alias)  # fmt: skip
    return registered
