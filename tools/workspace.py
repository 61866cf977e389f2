"""Copies of the project to run stages and DVC in, away from the working tree: the one way tests
and benchmarks make them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CODE = ("stages/", "pipeline/", "dvc.yaml")  # what runs a stage
GENERATED = ("dvc.lock", "metrics/", "plots/", "reports/", "logs/")  # what a run writes


def project_files(root: Path = ROOT) -> list[str]:
    """The files git tracks or would track (ignored ones aside), relative to `root`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [name for name in listed.splitlines() if (root / name).is_file()]


def copy_project(
    destination: Path, only: tuple[str, ...] = (), skip: tuple[str, ...] = (), root: Path = ROOT
) -> Path:
    """The project's files (those starting with one of `only`, if given, and none of `skip`)
    copied into `destination`."""
    for name in project_files(root):
        if (only and not name.startswith(only)) or (skip and name.startswith(skip)):
            continue
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, destination / name)
    return destination


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
            command, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=3600
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
        self.git("clean", "-qfd", "--", "plots", "reports", "metrics", "data")  # data/raw photos
        self.dvc("checkout", "-q", "--force")

    def clone(self, path: Path) -> Project:
        subprocess.run(["git", "clone", "-q", str(self.path), str(path)], check=True)
        return Project(path, Path(self.env["DATA_MIRROR"]))


def make_project(path: Path, mirror: Path, params: dict | None = None) -> Project:
    """A fresh git repository holding the project's files (without what a run writes) and
    `params` (the committed ones by default)."""
    copy_project(path, skip=GENERATED)
    project = Project(path, mirror)
    if params is not None:
        project.write_params(params)
    project.git("init", "-q")
    project.git("config", "user.name", "test")  # DVC commits experiments as this identity
    project.git("config", "user.email", "test@example.com")
    project.commit("copy of the project")
    return project
