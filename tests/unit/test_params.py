from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from pipeline.params import ParamsError, load_params
from pipeline.schema import bounded


@dataclass(frozen=True)
class Inner:
    rate: float = bounded(0.0, 1.0)
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Section:
    steps: int = bounded(1, 100)
    name: str = ""
    inner: Inner | None = None
    sizes: list[int] | None = bounded(1, 10, default=None)


@dataclass(frozen=True)
class Schema:
    section: Section


def load(tmp_path: Path, text: str) -> Schema:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(Schema, path)


def test_valid_params_parse_into_typed_values(tmp_path: Path) -> None:
    params = load(tmp_path, "section: {steps: 5, name: x, inner: {rate: 1}, sizes: [1, 2]}")
    assert params.section.steps == 5
    assert params.section.inner == Inner(rate=1.0, mode="a")
    assert isinstance(params.section.inner.rate, float)
    assert params.section.sizes == (1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("section: {steps: 5, stpes: 6}", "section: unknown key(s) ['stpes']"),
        ("section: {steps: five}", "section.steps: expected int, got str 'five'"),
        ("section: {steps: true}", "section.steps: expected int, got bool"),
        ("section: {steps: 0}", "section.steps: 0 is out of range [1, 100]"),
        ("section: {steps: 5, inner: {rate: 1.5}}", "section.inner.rate: 1.5 is out of range"),
        ("section: {steps: 5, inner: {rate: 0.5, mode: c}}", "section.inner.mode: expected one"),
        ("section: {steps: 5, sizes: [1, x]}", "section.sizes[1]: expected int"),
        ("section: {steps: 5, sizes: [1, 11]}", "section.sizes[1]: 11 is out of range [1, 10]"),
        ("section: {name: x}", "section.steps: missing"),
        ("other: {}", "section: missing"),
    ],
)
def test_invalid_params_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ParamsError, match=None) as err:
        load(tmp_path, text)
    assert message in str(err.value)
    assert str(tmp_path / "params.yaml") in str(err.value)


def test_exponent_floats_read_as_dvc_writes_them(tmp_path: Path) -> None:
    # `dvc exp run -S` writes 3e-05 (YAML 1.2); YAML 1.1 readers would take it for a string
    params = load(tmp_path, "section: {steps: 5, inner: {rate: 3e-05}, name: 1e-3x}")
    assert params.section.inner.rate == 3e-05
    assert params.section.name == "1e-3x"


def test_missing_params_file_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        load_params(Schema, tmp_path / "absent.yaml")
