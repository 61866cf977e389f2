"""Facts kept in two places, held equal: where code and dvc.yaml must agree, a test says so."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath

import yaml

from pipeline.project import paths
from pipeline.quality.recorded import Recorded
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def entries(stage: dict, kind: str) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in stage.get(kind, [])]


def outputs() -> dict[str, str]:
    """Every output dvc.yaml declares (outs, metrics, plots), and the stage that writes it."""
    return {
        out: name
        for name, stage in STAGES.items()
        for kind in ("outs", "metrics", "plots")
        for out in entries(stage, kind)
    }


def constants() -> set[str]:
    """Every file or folder paths.py names as a constant."""
    found = set()
    for value in vars(paths).values():
        values = value.values() if isinstance(value, dict) else [value]
        found |= {PurePosixPath(v).as_posix() for v in values if isinstance(v, Path)}
    return found


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def test_every_output_dvc_yaml_declares_is_named_in_paths() -> None:
    named = constants()
    for out, stage in outputs().items():
        helpers = {paths.metrics(stage), paths.timing(stage), paths.plots(stage)}
        named_here = named | {p.as_posix() for p in helpers}
        assert any(inside(out, n) or inside(n, out) for n in named_here), (
            f"{out} is in dvc.yaml but not in pipeline/project/paths.py"
        )


def test_every_file_paths_names_is_a_declared_output_or_dependency() -> None:
    declared = set(outputs()) | {d for stage in STAGES.values() for d in entries(stage, "deps")}
    files = {p for p in constants() if PurePosixPath(p).suffix}
    for path in files:
        assert any(inside(path, d) for d in declared), f"{path}: paths.py names it, no stage does"


def test_validate_reads_exactly_the_metrics_it_declares_as_dependencies() -> None:
    read = {paths.metrics(field.name).as_posix() for field in dataclasses.fields(Recorded)}
    declared = {d for d in entries(STAGES["validate"], "deps") if d.startswith("metrics/")}
    assert read == declared


def test_the_browser_apps_form_starts_as_the_pipeline_samples_until_the_manifest_says() -> None:
    """Before the manifest's sampling record arrives, the Generate form holds what validate
    judged."""
    form = (ROOT / "web/src/generateForm.ts").read_text()
    defaults = dict(re.findall(r"^\s+(\w+): '([^']*)',$", form, flags=re.MULTILINE))
    sample = yaml.safe_load((ROOT / "params.yaml").read_text())["sample"]
    assert float(defaults["guidance"]) == sample["guidance_scale"]
    interval = re.search(
        r"DEFAULT_GUIDANCE_INTERVAL: \[number, number\] = \[([\d.]+), ([\d.]+)\];", form
    )
    assert interval and [float(x) for x in interval.groups()] == sample["guidance_interval"]
    assert int(defaults["steps"]) == sample["steps"]
    assert float(defaults["shift"]) == sample["time_shift"]
    assert sample["solver"] == "euler"
