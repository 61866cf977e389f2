"""Every stage declares in dvc.yaml the params sections it reads and the code that computes its
outputs, so that DVC reruns it when either changes."""

import ast
import dataclasses
import importlib
from pathlib import Path

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


# How a stage runs and reports, not what it computes (runtime.py is only the `runtime` schema).
PLUMBING = {
    f"pipeline/{name}.py"
    for name in ("console", "errors", "files", "params", "paths", "runtime", "tracking")
}


def imported_sources(path: Path) -> set[str]:
    """Project files (relative to the root) named by `path`'s `from pipeline/stages ...` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            package, _, module = node.module.partition(".")
            names = [module] if module else [alias.name for alias in node.names]
            if package in ("pipeline", "stages"):
                found |= {f"{package}/{name}.py" for name in names}
    return {name for name in found if (ROOT / name).is_file()}


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_declares_the_code_that_computes_its_outputs(stage: str) -> None:
    code, todo = set(), [f"stages/{stage}.py"]
    while todo:
        for name in imported_sources(ROOT / todo.pop()) - code:
            if name.startswith("stages/"):
                # another stage's params schema: its section must be declared instead
                assert Path(name).stem in STAGES[stage].get("params", []), name
            else:
                code.add(name)
                todo.append(name)
    assert sorted(code - PLUMBING - set(STAGES[stage]["deps"])) == []
