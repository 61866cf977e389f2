"""Every stage declares in dvc.yaml the params sections it reads and the code that computes its
outputs, so that DVC reruns it when either changes; and the code keeps to its layout."""

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest
import yaml

from pipeline.params import load_params
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PACKAGE = ROOT / "pipeline"
# The rooms: sub-packages of `pipeline` that compute; `project` is the plumbing.
ROOMS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
PLUMBING_ROOM = "project"


def test_dvc_yaml_has_the_stages_in_order() -> None:
    assert list(STAGES) == [
        "download",
        "keras_to_onnx",
        "onnx_eval",
        "onnx_to_torch",
        "train_classifier",
        "train_dit",
        "export_generator",
        "quantize",
        "validate",
        "register",
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


def is_plumbing(name: str) -> bool:
    """How a stage runs and reports, not what it computes: the foundation modules directly in
    `pipeline/` (errors, files, params) and the `project` room. Read from the layout."""
    parts = Path(name).parts
    return parts[0] == "pipeline" and (len(parts) == 2 or parts[1] == PLUMBING_ROOM)


def imported_sources(path: Path) -> set[str]:
    """Project files (relative to the root) that `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            name = module.replace(".", "/") + ".py"
            if module.split(".")[0] in ("pipeline", "stages") and (ROOT / name).is_file():
                found.add(name)
    return found


def code_of(stage: str) -> set[str]:
    code, todo = set(), [f"stages/{stage}.py"]
    while todo:
        for name in imported_sources(ROOT / todo.pop()) - code:
            code.add(name)
            todo.append(name)
    return code


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_declares_exactly_the_code_that_computes_its_outputs(stage: str) -> None:
    computing = {name for name in code_of(stage) if not is_plumbing(name)}
    declared = {dep for dep in STAGES[stage]["deps"] if dep.endswith(".py")}
    assert declared - {f"stages/{stage}.py"} == computing


@pytest.mark.parametrize("stage", list(STAGES))
def test_no_stage_imports_another(stage: str) -> None:
    assert not {name for name in code_of(stage) if name.startswith("stages/")}


@pytest.mark.parametrize("folder", ["benchmarks", "tools", "tests"])
def test_tools_benchmarks_and_tests_import_no_stage_module_at_the_top(folder: str) -> None:
    """They run stages as commands; importing one would make it a library."""
    for script in (ROOT / folder).rglob("*.py"):
        top = ast.parse(script.read_text()).body
        imported = {node.module for node in top if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in imported if m.split(".")[0] == "stages"}, script


def room_of(name: str) -> str | None:
    parts = Path(name).parts
    return parts[1] if parts[0] == "pipeline" and len(parts) > 2 else None


def test_rooms_depend_on_each_other_without_cycles() -> None:
    """A room's modules may use another room's only if that one never uses the first, directly
    or through others: the rooms form layers."""
    uses: dict[str, set[str]] = {room: set() for room in ROOMS}
    for path in PACKAGE.rglob("*.py"):
        room = room_of(str(path.relative_to(ROOT)))
        for name in imported_sources(path):
            other = room_of(name)
            if room and other and other != room:
                uses[room].add(other)
    order: list[str] = []
    while len(order) < len(uses):
        ready = [r for r in uses if r not in order and uses[r] <= set(order)]
        assert ready, f"the rooms {sorted(set(uses) - set(order))} use each other in a cycle"
        order += sorted(ready)


def test_the_plumbing_and_the_foundation_import_no_room() -> None:
    """The rooms use the plumbing, never the reverse: plumbing code is no stage's dependency, so
    it must not reach code that computes outputs."""
    for path in PACKAGE.rglob("*.py"):
        name = str(path.relative_to(ROOT))
        if is_plumbing(name):
            reached = {n for n in imported_sources(path) if not is_plumbing(n)}
            assert not reached, f"{name} imports {sorted(reached)}"


def test_stage_modules_fit_on_a_screen() -> None:
    for path in (ROOT / "stages").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 100, path.name


def test_rooms_are_the_layout_the_readme_describes() -> None:
    readme = (ROOT / "README.md").read_text()
    for room in ROOMS:
        assert f"`pipeline/{room}/`" in readme, room
