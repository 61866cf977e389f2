"""Gates, the statistics behind them, and the failure paths of `quantize` and `validate`."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.quality.gates import GATES, Gate, GateParams, evaluate, markdown_table
from pipeline.quality.statistics import bootstrap_frechet, frechet_distance, proportion
from tests.conftest import ROOT, run_module, write_params

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
LIMITS = GateParams(**PARAMS["validate"]["gates"])


def test_gates_pass_and_fail_by_their_rule() -> None:
    assert Gate("a", 0.86, 0.85, ">=", "").passed
    assert not Gate("a", 0.84, 0.85, ">=", "").passed
    assert Gate("b", 1e-5, 1e-4, "<=", "").passed
    assert not Gate("b", 1e-3, 1e-4, "<=", "").passed
    assert Gate("a", 0.3, 0.3, ">=", "").as_dict() == {
        "value": 0.3,
        "threshold": 0.3,
        "rule": ">=",
        "pass": True,
    }


def test_a_value_that_was_not_recorded_fails_its_gate_and_says_why() -> None:
    gates = {gate.name: gate for gate in evaluate({}, LIMITS)}
    assert set(gates) == {name for name, *_ in GATES}
    assert not any(gate.passed for gate in gates.values())
    assert gates["onnx_torch_agreement"].problem == (
        "onnx_to_torch recorded no parity_vs_onnx.argmax_agreement; rerun it (dvc repro)"
    )


def test_a_generator_of_other_classes_fails_the_generator_gates() -> None:
    judged = {"generator": {"conditional_accuracy": None, "unjudged_classes": ["Bengal"]}}
    gates = {gate.name: gate for gate in evaluate({"validate": judged}, LIMITS)}
    gate = gates["generator_conditional_accuracy"]
    assert not gate.passed and gate.value is None
    assert "generator classes ['Bengal'] have no classifier class" in gate.problem
    assert gate.as_dict()["pass"] is False


def test_markdown_table_marks_failures_and_missing_values() -> None:
    table = markdown_table(
        [Gate("accuracy", 0.2, 0.3, ">=", "too low"), Gate("size", None, 1, "<=", "m", "why")]
    )
    assert "| `accuracy` | 0.2 | >= 0.3 | **FAIL** | too low |" in table
    assert "| `size` | — | <= 1 | **FAIL** | m. why |" in table


def test_proportion_interval_is_wilson() -> None:
    # Wilson 95% for 52/100, by hand: centre 0.519260, half-width 0.096095
    result = proportion(52, 100)
    assert result["value"] == 0.52
    assert result["ci95_low"] == pytest.approx(0.423165, abs=2e-6)
    assert result["ci95_high"] == pytest.approx(0.615355, abs=2e-6)
    edge = proportion(0, 10)
    assert edge["ci95_low"] == 0.0 and 0.25 < edge["ci95_high"] < 0.35


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    features = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 4))
    b = rng.normal(size=(20_000, 4)) + np.array([3.0, 0, 0, 0])
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.02)


def test_frechet_distance_counts_a_difference_of_spread() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20_000, 2)), 2 * rng.normal(size=(20_000, 2))
    # per axis: 1 + 4 - 2 * sqrt(1 * 4) = 1
    assert frechet_distance(a, b) == pytest.approx(2.0, rel=0.03)


def test_bootstrap_interval_brackets_the_spread_of_the_estimate() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3)) + 1.0
    result = bootstrap_frechet(a, b, rounds=100, seed=0)
    assert result["ci95_low"] < 3.0 < result["ci95_high"]
    assert result["ci95_high"] - result["ci95_low"] < 2.0
    assert bootstrap_frechet(a, b, rounds=100, seed=0) == result


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
    assert "metrics/keras_to_onnx.json: metrics of `keras_to_onnx` not found" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "gates",
            {**PARAMS["validate"]["gates"], "fid_max": 1},
            "validate.gates: unknown key(s) ['fid_max']",
        ),
        ("class_map", {"cat": 3}, "validate.class_map.cat: expected str"),
        (
            "sweep",
            {**PARAMS["validate"]["sweep"], "heun_steps": 0},
            "validate.sweep.heun_steps: 0 is out",
        ),
    ],
)
def test_validate_rejects_bad_params_naming_the_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    write_params(tmp_path, {**PARAMS, "validate": {**PARAMS["validate"], key: value}})
    result = run_module("stages.validate", tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
