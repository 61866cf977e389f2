"""Markdown pieces every report shares: measurements with their intervals, tables, verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.quality.statistics import Measurement


def interval(measurement: Measurement, digits: int = 3) -> str:
    """0.512 (0.481–0.543)"""
    m = measurement
    return f"{m.value:.{digits}f} ({m.ci95_low:.{digits}f}–{m.ci95_high:.{digits}f})"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(map(str, row)) + " |" for row in rows)])


def verdict_line(failing: Sequence[str]) -> str:
    """The one-line summary of the gates, in bold."""
    return f"**{'All gates pass' if not failing else 'Failing: ' + ', '.join(failing)}**"
