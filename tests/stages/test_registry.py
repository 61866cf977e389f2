"""The model registry, on MLflow's embedded SQLite store: the stages log their ONNX models,
validate registers them, and its verdict moves `champion` or `candidate`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import mlflow.onnx
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from mlflow import MlflowClient

from pipeline.project.registry import log_onnx_model, logged_model_uri, register
from tests.conftest import random_images, tiny_classifier_onnx


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    return uri


def example() -> dict[str, np.ndarray]:
    return {"input": random_images(2, size=16).astype(np.float32)}


def variant(path: Path, scale: float) -> Path:
    """The tiny classifier with its last weights scaled: other bytes, other outputs."""
    model = onnx.load(str(tiny_classifier_onnx(path)))
    for tensor in model.graph.initializer:
        if tensor.name == "wd":
            array = onnx.numpy_helper.to_array(tensor) * scale
            tensor.CopyFrom(onnx.numpy_helper.from_array(array, "wd"))
    onnx.save(model, str(path))
    return path


def outputs(path_or_model: Path | onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    source = (
        path_or_model
        if isinstance(path_or_model, onnx.ModelProto)
        else onnx.load(str(path_or_model))
    )
    session = ort.InferenceSession(source.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def test_a_pass_moves_champion_a_fail_leaves_it_and_the_champion_loads_as_onnx_runtime_runs(
    store: str, tmp_path: Path
) -> None:
    first = variant(tmp_path / "first.onnx", 1.0)
    with mlflow.start_run():  # the stage that wrote the model logs it
        logged = log_onnx_model(first, "classifier", example())
    with mlflow.start_run() as run:  # validate finds it by content and registers it
        assert logged_model_uri(first, run.info.experiment_id) == logged.model_uri
        assert register({"classifier": (first, example())}, passed=True) == {
            "classifier": {"version": 1, "alias": "champion", "new": True}
        }
    second = variant(tmp_path / "second.onnx", 3.0)
    with mlflow.start_run():  # a failing run: its model was never logged, validate logs it
        assert register({"classifier": (second, example())}, passed=False) == {
            "classifier": {"version": 2, "alias": "candidate", "new": True}
        }
    client = MlflowClient()
    assert int(client.get_model_version_by_alias("classifier", "champion").version) == 1
    assert int(client.get_model_version_by_alias("classifier", "candidate").version) == 2
    feed = example()
    champion = mlflow.onnx.load_model("models:/classifier@champion")
    np.testing.assert_array_equal(outputs(champion, feed), outputs(first, feed))
    candidate = mlflow.onnx.load_model("models:/classifier@candidate")
    assert not np.allclose(outputs(candidate, feed), outputs(first, feed))


def test_a_logged_model_carries_its_signature_and_input_example(store: str, tmp_path: Path) -> None:
    path = variant(tmp_path / "m.onnx", 1.0)
    with mlflow.start_run():
        info = log_onnx_model(path, "classifier", example())
    inputs = info.signature.inputs.to_dict()
    assert inputs[0]["name"] == "input"
    assert list(inputs[0]["tensor-spec"]["shape"]) == [-1, 16, 16, 3]
    assert info.signature.outputs.to_dict()[0]["name"] == "probs"
    assert info.saved_input_example_info is not None


def test_the_same_file_registers_once_and_its_version_carries_its_digests(
    store: str, tmp_path: Path
) -> None:
    path = variant(tmp_path / "m.onnx", 1.0)
    with mlflow.start_run():
        first = register({"classifier": (path, example())}, passed=True)
    with mlflow.start_run():
        again = register({"classifier": (path, example())}, passed=True)
    assert first["classifier"]["new"] is True
    assert again == {"classifier": {"version": 1, "alias": "champion", "new": False}}
    client = MlflowClient()
    assert len(client.search_model_versions("name = 'classifier'")) == 1
    tags = client.get_model_version("classifier", "1").tags
    assert tags["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tags["dvc_md5"] == hashlib.md5(path.read_bytes()).hexdigest()
