"""Quality gates: a measured value, a threshold, and whether it passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Gate:
    name: str
    value: float
    threshold: float
    rule: Literal[">=", "<="]
    meaning: str

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.rule == ">=" else self.value <= self.threshold

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "threshold": self.threshold,
            "rule": self.rule,
            "pass": self.passed,
        }


def at_least(name: str, value: float, threshold: float, meaning: str) -> Gate:
    return Gate(name, float(value), float(threshold), ">=", meaning)


def at_most(name: str, value: float, threshold: float, meaning: str) -> Gate:
    return Gate(name, float(value), float(threshold), "<=", meaning)


def markdown_table(gates: list[Gate]) -> str:
    rows = ["| gate | value | rule | result | meaning |", "|---|---|---|---|---|"]
    for gate in gates:
        result = "pass" if gate.passed else "**FAIL**"
        rows.append(
            f"| `{gate.name}` | {gate.value:.6g} | {gate.rule} {gate.threshold:.6g} | "
            f"{result} | {gate.meaning} |"
        )
    return "\n".join(rows)
