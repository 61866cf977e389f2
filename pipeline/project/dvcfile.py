"""What dvc.yaml declares for a stage, and a digest of the content of its dependencies.

A stage that reuses earlier work (a training checkpoint) compares this digest with the one saved
beside that work: the same digest means the same code and data, as DVC itself would judge them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import PipelineError
from pipeline.params import PARAMS_FILE, read_document

DVC_FILE = Path("dvc.yaml")
_TEMPLATE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


def stage_deps(stage: str, params: Mapping[str, Any], dvc_file: Path = DVC_FILE) -> list[str]:
    """The `deps` of `stage`, with `${section.key}` templates filled from `params`."""
    if not dvc_file.is_file():
        raise PipelineError(f"{dvc_file}: not found; run the stage from the project root")
    stages = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages", {})
    if stage not in stages:
        raise PipelineError(f"{dvc_file}: declares no stage {stage!r}")
    return [_fill(str(dep), params, dvc_file) for dep in stages[stage].get("deps", [])]


def _fill(text: str, params: Mapping[str, Any], dvc_file: Path) -> str:
    def lookup(match: re.Match[str]) -> str:
        value: Any = params
        for key in match.group(1).split("."):
            if not isinstance(value, Mapping) or key not in value:
                raise PipelineError(f"{dvc_file}: ${{{match.group(1)}}} is not in params.yaml")
            value = value[key]
        return str(value)

    return _TEMPLATE.sub(lookup, text)


def content_digest(paths: Iterable[str | Path]) -> str:
    """sha256 over the names and bytes of the given files and of every file under given folders."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise PipelineError(f"{path}: declared as a dependency in dvc.yaml but not found")
        for file in files:
            digest.update(f"{file.as_posix()}\0{file.stat().st_size}\0".encode())
            with open(file, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def inputs_digest(stage: str, sections: Mapping[str, Any], params_file: Path = PARAMS_FILE) -> str:
    """sha256 of the params the stage reads (`sections`, plain data) and of the content of every
    dependency dvc.yaml declares for it: what DVC itself compares to decide on a rerun."""
    deps = stage_deps(stage, read_document(params_file))
    identity = {"params": sections, "deps": content_digest(deps)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
