"""Gates, the Fréchet distance, and the failure paths of `quantize` and `validate`."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline import gates
from pipeline.frechet import frechet_distance
from tests.conftest import ROOT, run_module, write_params

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_gates_pass_and_fail_by_their_rule() -> None:
    assert gates.at_least("a", 0.86, 0.85, "").passed
    assert not gates.at_least("a", 0.84, 0.85, "").passed
    assert gates.at_most("b", 1e-5, 1e-4, "").passed
    assert not gates.at_most("b", 1e-3, 1e-4, "").passed
    assert gates.at_least("a", 0.3, 0.3, "").as_dict() == {
        "value": 0.3,
        "threshold": 0.3,
        "rule": ">=",
        "pass": True,
    }


def test_markdown_table_marks_failures() -> None:
    table = gates.markdown_table([gates.at_least("accuracy", 0.2, 0.3, "too low")])
    assert "| `accuracy` | 0.2 | >= 0.3 | **FAIL** | too low |" in table


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    features = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 4))
    b = rng.normal(size=(20_000, 4)) + np.array([3.0, 0, 0, 0])
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.02)


def test_quantize_without_the_models_names_the_missing_file(tmp_path: Path) -> None:
    write_params(tmp_path, PARAMS)
    result = run_module("stages.quantize", tmp_path)
    assert result.returncode == 1
    assert "data/cifar10/train.npz: not found; run the `download` stage" in result.stderr
    assert not (tmp_path / "models").exists()


def test_quantize_rejects_zero_calibration_images(tmp_path: Path) -> None:
    write_params(tmp_path, {**PARAMS, "quantize": {**PARAMS["quantize"], "calibration_images": 0}})
    result = run_module("stages.quantize", tmp_path)
    assert result.returncode == 1
    assert "quantize.calibration_images: 0 is out of range" in result.stderr


def test_validate_without_upstream_metrics_names_the_stage_to_run(tmp_path: Path) -> None:
    write_params(tmp_path, PARAMS)
    result = run_module("stages.validate", tmp_path)
    assert result.returncode == 1
    assert "metrics/onnx_eval.json: not found; run the `onnx_eval` stage" in result.stderr


def test_validate_rejects_an_unknown_gate(tmp_path: Path) -> None:
    validate = {**PARAMS["validate"], "gates": {**PARAMS["validate"]["gates"], "fid_max": 1}}
    write_params(tmp_path, {**PARAMS, "validate": validate})
    result = run_module("stages.validate", tmp_path)
    assert result.returncode == 1
    assert "validate.gates: unknown key(s) ['fid_max']" in result.stderr
