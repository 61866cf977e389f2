"""The failure paths of `quantize` and `validate`."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_module, write_params

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


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
        ("bootstrap_rounds", "many", "validate.bootstrap_rounds: expected int"),
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
