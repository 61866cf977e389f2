"""A git + DVC copy of the project with the slow parts shrunk, for tests that run DVC for real.

    python -m tests.tiny_pipeline DEST    # a tiny project at DEST after one `dvc repro`

The classifier is still judged on all of the data; the generator trains for seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"
GENERATED = ("dvc.lock", "metrics/", "plots/", "reports/", "logs/")


def tiny_params() -> dict:
    """The committed params with the slow parts shrunk."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["keras_to_onnx"]["parity_images"] = 1000
    params["onnx_to_torch"]["parity_images"] = 1000
    params["onnx_eval"].update(throughput_batch_sizes=[256], throughput_rounds=5)
    params["train_dit"]["model"].update(width=32, depth=2, heads=2, patch_size=4)
    params["train_dit"]["train"].update(
        steps=20, batch_size=16, warmup_steps=2, checkpoint_every=10
    )
    params["sample"].update(steps=3, per_class=2)
    params["quantize"].update(calibration_images=64, throughput_rounds=2)
    params["validate"].update(samples_per_class=5, bootstrap_rounds=20)
    params["validate"]["sweep"].update(
        guidance_scales=[1.0, 4.0], euler_steps=2, heun_steps=1, samples_per_class=2
    )
    # 20 steps learn no classes: the generator's quality gates are driven by their own tests.
    params["validate"]["gates"].update(conditional_accuracy_min=0.0, frechet_distance_max=1e6)
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


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


class Project:
    """A git + DVC working copy, with commands run in it."""

    def __init__(self, path: Path, mirror: Path, env: dict[str, str] | None = None) -> None:
        self.path = path
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "DATA_MIRROR": str(mirror),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
            **(env or {}),
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

    def params(self) -> dict:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def write_params(self, params: dict) -> None:
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def reset(self, commit: str = "HEAD") -> None:
        """Back to `commit`, outputs included."""
        self.git("reset", "-q", "--hard", commit)
        self.git("clean", "-qfd", "--", "plots", "reports", "metrics")
        self.dvc("checkout", "-q", "--force")

    def clone(self, path: Path) -> Project:
        subprocess.run(["git", "clone", "-q", str(self.path), str(path)], check=True)
        return Project(path, Path(self.env["DATA_MIRROR"]))


def make_project(path: Path, mirror: Path, params: dict | None = None) -> Project:
    """A fresh git repository holding the project's files and `params` (tiny by default)."""
    for name in project_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    project = Project(path, mirror)
    project.write_params(params or tiny_params())
    project.git("init", "-q")
    project.git("config", "user.name", "test")  # DVC commits experiments as this identity
    project.git("config", "user.email", "test@example.com")
    project.commit("copy of the project")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="an empty or absent folder")
    args = parser.parse_args()
    mirror = Path(os.environ.get("DATA_MIRROR") or DEFAULT_MIRROR).resolve()
    args.dest.mkdir(parents=True, exist_ok=True)
    project = make_project(args.dest.resolve(), mirror)
    print(project.dvc("repro").stdout[-2000:])


if __name__ == "__main__":
    main()
