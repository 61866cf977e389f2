"""Typed, validated access to `params.yaml`.

Each stage describes the sections it reads as frozen dataclasses; `load_params` checks every key
(unknown, missing, wrong type, out of range) and names the offending one in its error.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.schema import SchemaError, parse

PARAMS_FILE = Path("params.yaml")

T = TypeVar("T")


class _Yaml12Floats(yaml.SafeLoader):
    """PyYAML reads YAML 1.1, where `3e-05` is a string; DVC writes YAML 1.2, where it is a
    float (as `dvc exp run -S train_dit.train.min_lr=3e-5` leaves it)."""


_Yaml12Floats.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


class ParamsError(SchemaError):
    """A value in params.yaml (or a file of the same shape) is missing, unknown or invalid."""


def read_document(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The params file as plain YAML data, a mapping of sections."""
    if not path.is_file():
        raise ParamsError(f"{path}: file not found; run from the project root")
    try:
        document = yaml.load(path.read_text(), Loader=_Yaml12Floats) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(document, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return document


def load_params(schema: type[T], path: Path = PARAMS_FILE) -> T:
    """Parse the sections of `path` that `schema` (a dataclass of sections) names."""
    document = read_document(path)
    sections = {f.name: document[f.name] for f in dataclasses.fields(schema) if f.name in document}
    try:
        return parse(schema, sections, where="")
    except SchemaError as err:
        raise ParamsError(f"{path}: {err}") from None
