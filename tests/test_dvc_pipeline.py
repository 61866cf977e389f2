"""The pipeline run for real by DVC, in a temporary git repo holding a copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
GENERATED = ("dvc.lock", "metrics/", "plots/", "reports/", "logs/")


def project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in listed.splitlines() if not f.startswith(GENERATED) and (ROOT / f).is_file()]


class Project:
    """A git + DVC copy of the project with commands run in it."""

    def __init__(self, path: Path, mirror: Path) -> None:
        self.path = path
        venv_bin = str(Path(sys.executable).parent)
        self.env = {**os.environ, "DATA_MIRROR": str(mirror),
                    "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True,
                                text=True, timeout=1800)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def metrics(self, stage: str) -> dict:
        return json.loads((self.path / "metrics" / f"{stage}.json").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Project:
    path = tmp_path_factory.mktemp("project")
    for name in project_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    project = Project(path, mirror)
    project.run("git", "init", "-q")
    project.run("git", "add", "-A")
    project.run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy")
    project.first_repro = project.dvc("repro")
    return project


def test_repro_runs_every_stage(project: Project) -> None:
    stages = ("download", "keras_to_onnx", "onnx_eval", "onnx_to_torch")
    for stage in stages:
        assert f"Running stage '{stage}'" in project.first_repro.stdout


def test_classifier_metrics_match_the_mirror_reference(project: Project) -> None:
    evaluation = project.metrics("onnx_eval")
    assert evaluation["perf"]["correct"] == 171 and evaluation["perf"]["total"] == 200
    assert evaluation["perf"]["accuracy"] == 0.855
    assert evaluation["test"]["accuracy"] == 0.7548
    conversion = project.metrics("keras_to_onnx")["parity_vs_keras"]
    assert conversion["argmax_agreement"] == 1.0 and conversion["max_abs_diff"] < 1e-4
    torch_parity = project.metrics("onnx_to_torch")["parity_vs_onnx"]
    assert torch_parity["argmax_agreement"] == 1.0 and torch_parity["max_abs_diff"] < 1e-4


def test_second_repro_runs_no_stage(project: Project) -> None:
    second = project.dvc("repro")
    assert "Running stage" not in second.stdout
    assert "up to date" in project.dvc("status").stdout
