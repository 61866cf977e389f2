"""Every stage reads exactly the params sections dvc.yaml declares for it, and they are valid."""

import dataclasses
import importlib

import pytest
import yaml

from pipeline.params import load_params
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_dvc_yaml_has_the_eight_stages_in_order() -> None:
    assert list(STAGES) == [
        "download",
        "keras_to_onnx",
        "onnx_eval",
        "onnx_to_torch",
        "train_dit",
        "export_generator",
        "quantize",
        "validate",
    ]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_declares_every_params_section_it_reads(stage: str) -> None:
    module = importlib.import_module(f"stages.{stage}")
    read = {field.name for field in dataclasses.fields(module.Params)}
    assert set(STAGES[stage].get("params", [])) == read
    assert STAGES[stage]["cmd"] == f"python -m stages.{stage}"
    assert f"stages/{stage}.py" in STAGES[stage]["deps"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_committed_params_are_valid_for_every_stage(stage: str) -> None:
    module = importlib.import_module(f"stages.{stage}")
    load_params(module.Params, ROOT / "params.yaml")


def test_params_file_has_no_section_that_no_stage_reads() -> None:
    sections = set(yaml.safe_load((ROOT / "params.yaml").read_text()))
    declared = {name for stage in STAGES.values() for name in stage.get("params", [])}
    assert sections == declared
