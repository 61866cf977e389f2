"""Named configurations: each is a complete, valid set of params, of the stages' own types."""

from __future__ import annotations

import importlib
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.generator.presets import DEFAULT, PRESETS, params_keys, set_params_arguments
from pipeline.params import load_params
from tests.conftest import ROOT


def with_overrides(document: dict, keys: dict) -> dict:
    for dotted, value in keys.items():
        *path, last = dotted.split(".")
        node = document
        for key in path:
            node = node[key]
        assert last in node, f"{dotted} is not a param"
        node[last] = value
    return document


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_sets_existing_params_to_valid_values(name: str, tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "params.yaml").read_text())
    chosen = tmp_path / "params.yaml"
    chosen.write_text(yaml.safe_dump(with_overrides(document, params_keys(PRESETS[name]))))
    for stage in ("train_dit", "export_generator"):
        load_params(importlib.import_module(f"stages.{stage}").Params, chosen)


def declared_type(section: str) -> Any:
    """The type a stage parses the params section `section` (dotted) into."""
    first, *rest = section.split(".")
    for module in sorted(p.stem for p in (ROOT / "stages").glob("[a-z]*.py")):
        kind: Any = importlib.import_module(f"stages.{module}").Params
        for part in (first, *rest):
            kind = typing.get_type_hints(kind).get(part)
            if kind is None:
                break
        else:
            return kind
    raise AssertionError(f"no stage reads {section}")


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_section_is_the_type_its_stage_parses(name: str) -> None:
    for section, value in PRESETS[name].items():
        assert type(value) is declared_type(section), section


def test_presets_name_the_same_params_so_that_they_differ_only_where_they_say() -> None:
    assert len({tuple(sorted(params_keys(preset))) for preset in PRESETS.values()}) == 1


def test_params_yaml_holds_the_default_preset() -> None:
    document = yaml.safe_load((ROOT / "params.yaml").read_text())
    current = with_overrides(yaml.safe_load((ROOT / "params.yaml").read_text()), {})
    assert with_overrides(document, params_keys(PRESETS[DEFAULT])) == current


def test_the_command_line_prints_arguments_dvc_reads_back_as_the_preset() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "pipeline.generator.presets", "gpu"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.split()  # fmt: skip
    assert printed == set_params_arguments("gpu")
    values = dict(arg.split("=", 1) for arg in printed[1::2])
    assert {k: yaml.safe_load(v) for k, v in values.items()} == params_keys(PRESETS["gpu"])


def test_an_unknown_preset_is_named_with_the_choices() -> None:
    with pytest.raises(KeyError, match="no preset 'tpu'; the presets are: cpu-v1"):
        set_params_arguments("tpu")
