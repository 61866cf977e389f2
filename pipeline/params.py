"""Typed, validated access to `params.yaml`.

Each stage describes the sections it reads as frozen dataclasses; `load_params` checks every key
(unknown, missing, wrong type, out of range) and names the offending one in its error.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from pipeline.errors import PipelineError

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


class ParamsError(PipelineError):
    """A value in params.yaml (or a file of the same shape) is missing, unknown or invalid."""


def bounded(
    low: float | None = None, high: float | None = None, default: Any = dataclasses.MISSING
) -> Any:
    """A dataclass field whose value (each value, for a list) must lie in [low, high]."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high})


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
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from None


def parse(kind: Any, value: Any, where: str) -> Any:
    """Check `value` against the type `kind` and return it converted; `where` names the key."""
    if dataclasses.is_dataclass(kind):
        return _parse_dataclass(kind, value, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse(inner[0], value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{where}: expected a mapping, got {_describe(value)}")
        return {
            parse(args[0], key, f"{where}.{key}"): parse(args[1], item, f"{where}.{key}")
            for key, item in value.items()
        }
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ParamsError(f"{where}: expected a list, got {_describe(value)}")
        return tuple(parse(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"{where}: expected a number, got {_describe(value)}")
        return float(value)
    if kind in (int, bool, str):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ParamsError(f"{where}: expected {kind.__name__}, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported parameter type {kind!r} at {where}")


def _parse_dataclass(schema: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ParamsError(f"{where}: expected a mapping, got {_describe(value)}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {unknown}; expected keys: {sorted(fields)}")
    hints = typing.get_type_hints(schema)
    parsed = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in value:
            if field.default is not dataclasses.MISSING:
                parsed[name] = field.default
                continue
            raise ParamsError(f"{key}: missing (expected {_type_name(hints[name])})")
        parsed[name] = parse(hints[name], value[name], key)
        _check_bounds(parsed[name], field.metadata, key)
    return schema(**parsed)


def _check_bounds(value: Any, metadata: typing.Mapping[str, Any], key: str) -> None:
    if isinstance(value, tuple):
        for i, item in enumerate(value):
            _check_bounds(item, metadata, f"{key}[{i}]")
        return
    if isinstance(value, dict):
        for name, item in value.items():
            _check_bounds(item, metadata, f"{key}.{name}")
        return
    if value is None:
        return
    low, high = metadata.get("low"), metadata.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ParamsError(f"{key}: {value!r} is out of range {span}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def as_dict(params: Any) -> dict[str, Any]:
    """The parsed params as plain nested dicts (for logging to MLflow)."""
    return dataclasses.asdict(params)
