"""Typed records in JSON files: each metrics file and training record is a frozen dataclass,
declared beside the code that computes it, written and read back through that one schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from pipeline.files import read_json, require_file, write_json
from pipeline.schema import SchemaError, parse

T = TypeVar("T")


class RecordError(SchemaError):
    """A record file does not have the shape its schema declares."""


def write_record(path: Path | str, record: Any) -> None:
    write_json(path, dataclasses.asdict(record))


def read_record(schema: type[T], path: Path | str, what: str) -> T:
    """The record at `path`; `what` says which stage writes it, for the error."""
    data = read_json(require_file(path, what))
    try:
        return parse(schema, data, where="")
    except SchemaError as err:
        raise RecordError(
            f"{path}: {err}; it was written by other code, rerun the stage that writes it "
            "(dvc repro)"
        ) from None
