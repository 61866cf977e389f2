"""Plain data (parsed YAML or JSON) checked against a typed schema of frozen dataclasses.

`parse` checks every key (unknown, missing, wrong type, out of range) and names the offending one
in its error. Params, metrics files, training records and model metadata all go through it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from pipeline.errors import PipelineError


class SchemaError(PipelineError):
    """A value is missing, unknown or of the wrong type or range; the message names its key."""


def bounded(
    low: float | None = None, high: float | None = None, default: Any = dataclasses.MISSING
) -> Any:
    """A dataclass field whose value (each value, for a list) must lie in [low, high]."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high})


def parse(kind: Any, value: Any, where: str) -> Any:
    """Check `value` against the type `kind` and return it converted; `where` names the key."""
    if dataclasses.is_dataclass(kind):
        return _parse_dataclass(kind, value, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if value not in args:
            raise SchemaError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for alternative in (a for a in args if a is not type(None)):
            try:
                return parse(alternative, value, where)
            except SchemaError as err:
                errors.append(err)
        raise errors[0]
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected a mapping, got {_describe(value)}")
        return {
            parse(args[0], key, f"{where}.{key}"): parse(args[1], item, f"{where}.{key}")
            for key, item in value.items()
        }
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise SchemaError(f"{where}: expected a list, got {_describe(value)}")
        return tuple(parse(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where}: expected a number, got {_describe(value)}")
        return float(value)
    if kind in (int, bool, str):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SchemaError(f"{where}: expected {kind.__name__}, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported schema type {kind!r} at {where}")


def _parse_dataclass(schema: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise SchemaError(f"{where}: expected a mapping, got {_describe(value)}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {unknown}; expected keys: {sorted(fields)}")
    hints = typing.get_type_hints(schema)
    parsed = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in value:
            if field.default is not dataclasses.MISSING:
                parsed[name] = field.default
                continue
            if field.default_factory is not dataclasses.MISSING:
                parsed[name] = field.default_factory()
                continue
            raise SchemaError(f"{key}: missing (expected {_type_name(hints[name])})")
        parsed[name] = parse(hints[name], value[name], key)
        _check_bounds(parsed[name], field.metadata, key)
    return schema(**parsed)


def _check_bounds(value: Any, metadata: Mapping[str, Any], key: str) -> None:
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
        raise SchemaError(f"{key}: {value!r} is out of range {span}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
