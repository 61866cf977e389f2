"""The DVC contract, proven by running DVC for real on a copy of the project with tiny params.

One copy is shared by the tests; after each test it goes back to the commit it started from, so a
failing test leaves the next one a clean workspace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
GENERATED = ("dvc.lock", "metrics/", "plots/", "reports/", "logs/")
STAGES = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
CLASSIFIER_BRANCH = ("keras_to_onnx", "onnx_eval", "onnx_to_torch")
GENERATOR_BRANCH = ("train_dit", "export_generator")
QUALITY_METRICS = tuple(f"metrics/{stage}.json" for stage in STAGES[1:])


def tiny_params() -> dict:
    """The committed params with the slow parts shrunk; the classifier is judged on all data."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["keras_to_onnx"]["parity_images"] = 1000
    params["onnx_to_torch"]["parity_images"] = 1000
    params["onnx_eval"].update(throughput_batch_sizes=[256], throughput_rounds=5)
    params["train_dit"]["model"].update(width=32, depth=2, heads=2, patch_size=4)
    params["train_dit"]["train"].update(
        steps=20, batch_size=16, warmup_steps=2, checkpoint_every=10
    )
    params["train_dit"]["sample"].update(steps=3, per_class=2)
    params["quantize"].update(calibration_images=64, throughput_rounds=2)
    params["validate"].update(samples_per_class=5, guidance_sweep=[1.0])
    params["validate"]["gates"]["conditional_accuracy_min"] = 0.0  # 20 steps learn no classes
    return params


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in listed.splitlines() if not f.startswith(GENERATED) and (ROOT / f).is_file()]


class Project:
    """A git + DVC working copy, with commands run in it."""

    def __init__(self, path: Path, mirror: Path) -> None:
        self.path = path
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "DATA_MIRROR": str(mirror),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        }

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=1800
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("git", *args)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def metrics(self, stage: str) -> dict:
        return json.loads((self.path / "metrics" / f"{stage}.json").read_text())

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def reset(self, commit: str = "HEAD") -> None:
        """Back to `commit`, outputs included."""
        self.git("reset", "-q", "--hard", commit)
        self.dvc("checkout", "-q", "--force")


def ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Project:
    path = tmp_path_factory.mktemp("project")
    for name in project_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    (path / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    project = Project(path, mirror)
    project.git("init", "-q")
    project.git("config", "user.name", "test")  # DVC commits experiments as this identity
    project.git("config", "user.email", "test@example.com")
    project.commit("copy of the project")
    project.first_repro = project.dvc("repro")
    project.commit("first run")
    return project


@pytest.fixture(autouse=True)
def restored(project: Project) -> Iterator[None]:
    start = project.head()
    yield
    project.reset(start)


def test_repro_runs_all_eight_stages(project: Project) -> None:
    assert ran(project.first_repro.stdout) == set(STAGES)
    assert project.metrics("validate")["passed"] is True


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
    assert ran(second.stdout) == set()
    assert "up to date" in project.dvc("status").stdout


def test_a_failing_gate_fails_repro_and_names_the_gate(project: Project) -> None:
    params = yaml.safe_load((project.path / "params.yaml").read_text())
    params["validate"]["gates"]["perf_accuracy_min"] = 0.9
    (project.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = project.dvc("repro", check=False)
    assert result.returncode != 0
    assert ran(result.stdout) == {"validate"}
    assert "quality gates failed: classifier_perf_accuracy" in result.stderr + result.stdout
    verdict = project.metrics("validate")["gates"]["classifier_perf_accuracy"]
    assert verdict == {"value": 0.855, "threshold": 0.9, "rule": ">=", "pass": False}


def test_train_param_change_reruns_only_the_generator_side(project: Project) -> None:
    result = project.dvc("exp", "run", "-S", "train_dit.train.steps=21")
    assert ran(result.stdout) == {*GENERATOR_BRANCH, "quantize", "validate"}
    assert project.metrics("train_dit")["steps"] == 21


def test_opset_change_reruns_the_classifier_side_only(project: Project) -> None:
    result = project.dvc("exp", "run", "-S", "keras_to_onnx.opset=16")
    assert ran(result.stdout) == {*CLASSIFIER_BRANCH, "quantize", "validate"}


def test_metrics_diff_shows_what_changed_between_commits(project: Project) -> None:
    params = yaml.safe_load((project.path / "params.yaml").read_text())
    params["train_dit"]["train"]["lr"] = 0.0002
    (project.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    project.dvc("repro")
    project.commit("lower lr")
    diff = json.loads(project.dvc("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert "final_loss" in diff["metrics/train_dit.json"]
    assert "metrics/onnx_eval.json" not in diff  # the classifier did not rerun


def test_queued_experiments_run_in_parallel_and_show_up(project: Project) -> None:
    for seed in (1, 2):
        project.dvc("exp", "run", "--queue", "-S", f"train_dit.train.seed={seed}")
    project.dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = project.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(5)
    project.dvc("queue", "stop", check=False)
    assert status.count("Success") == 2, status
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    assert {1, 2} <= set(find_values(shown, "train_dit", "train", "seed"))


def find_values(tree: object, *keys: str) -> list:
    """Every value at the nested `keys` path anywhere inside a JSON tree."""
    found = []
    if isinstance(tree, dict):
        node = tree
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found.append(node)
        children = tree.values()
    else:
        children = tree if isinstance(tree, list) else []
    for child in children:
        found += find_values(child, *keys)
    return found


def test_push_then_pull_into_a_fresh_clone_restores_every_output(
    project: Project, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    project.dvc("remote", "add", "-d", "local", str(remote))
    project.commit("add a remote")
    project.dvc("push")
    clone = Project(tmp_path / "clone", Path(project.env["DATA_MIRROR"]))
    subprocess.run(["git", "clone", "-q", str(project.path), str(clone.path)], check=True)
    clone.dvc("pull")
    assert "up to date" in clone.dvc("status").stdout
    for output in (
        "models/resnet8.onnx",
        "models/resnet8.pt2",
        "models/dit.onnx",
        "models/quantized/resnet8_int8.onnx",
        "data/cifar10/test.npz",
    ):
        assert (clone.path / output).read_bytes() == (project.path / output).read_bytes()


def test_a_second_run_from_clean_gives_identical_quality_metrics(
    project: Project, tmp_path: Path
) -> None:
    clone = Project(tmp_path / "clone", Path(project.env["DATA_MIRROR"]))
    subprocess.run(["git", "clone", "-q", str(project.path), str(clone.path)], check=True)
    result = clone.dvc("repro")  # a fresh clone: no outputs, no cache, no checkpoint to resume
    assert ran(result.stdout) == set(STAGES)
    for name in QUALITY_METRICS:
        assert (clone.path / name).read_text() == (project.path / name).read_text(), name
