"""Quality gates: each reads one value the stages recorded and holds it to one threshold.

Upstream stages only measure; every verdict is given here, against `validate.gates`. A value
that was not recorded, or could not be computed, fails its gate: a gate never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.params import bounded


@dataclass(frozen=True)
class GateParams:
    """The `validate.gates` params: one threshold per gate."""

    perf_accuracy_min: float = bounded(0.0, 1.0)  # MLPerf Tiny's quality target is 0.85
    conversion_agreement_min: float = bounded(0.0, 1.0)  # argmax agreement, Keras/ONNX/PyTorch
    conversion_max_abs_diff_max: float = bounded(0.0, 1.0)
    int8_accuracy_drop_max: float = bounded(-1.0, 1.0)  # test-set accuracy points lost to int8
    classifier_bytes_max: int = bounded(1, 10**10)
    classifier_int8_bytes_max: int = bounded(1, 10**10)
    generator_bytes_max: int = bounded(1, 10**11)
    generator_export_velocity_diff_max: float = bounded(0.0, 1.0)
    generator_export_sample_diff_max: float = bounded(0.0, 2.0)  # in [-1, 1] pixel units
    generator_int8_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    generator_fp16_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    conditional_accuracy_min: float = bounded(0.0, 1.0)  # held against the interval's low end
    frechet_distance_max: float = bounded(0.0, 1e6)  # held against the interval's high end


Rule = Literal[">=", "<="]

# name, (stage, dotted path in its metrics), rule, threshold param, what it means
GATES: tuple[tuple[str, tuple[str, str], Rule, str, str], ...] = (
    ("classifier_perf_accuracy", ("onnx_eval", "perf.accuracy"), ">=",
     "perf_accuracy_min", "ONNX top-1 on the perf subset"),
    ("keras_onnx_agreement", ("keras_to_onnx", "parity_vs_keras.argmax_agreement"), ">=",
     "conversion_agreement_min", "Keras and ONNX pick the same class"),
    ("keras_onnx_max_abs_diff", ("keras_to_onnx", "parity_vs_keras.max_abs_diff"), "<=",
     "conversion_max_abs_diff_max", "largest probability difference"),
    ("onnx_torch_agreement", ("onnx_to_torch", "parity_vs_onnx.argmax_agreement"), ">=",
     "conversion_agreement_min", "ONNX and PyTorch pick the same class"),
    ("onnx_torch_max_abs_diff", ("onnx_to_torch", "parity_vs_onnx.max_abs_diff"), "<=",
     "conversion_max_abs_diff_max", "largest probability difference"),
    ("int8_accuracy_drop", ("quantize", "classifier.int8.test_accuracy_drop"), "<=",
     "int8_accuracy_drop_max", "test accuracy lost to int8"),
    ("classifier_bytes", ("quantize", "classifier.fp32.bytes"), "<=",
     "classifier_bytes_max", "fp32 ONNX file size"),
    ("classifier_int8_bytes", ("quantize", "classifier.int8.bytes"), "<=",
     "classifier_int8_bytes_max", "int8 ONNX file size"),
    ("generator_bytes", ("quantize", "generator.fp32.bytes"), "<=",
     "generator_bytes_max", "fp32 generator ONNX file size"),
    ("generator_export_velocity_diff", ("export_generator", "velocity_max_abs_diff"), "<=",
     "generator_export_velocity_diff_max", "ONNX vs PyTorch velocity"),
    ("generator_export_sample_diff", ("export_generator", "sample_max_abs_diff"), "<=",
     "generator_export_sample_diff_max", "ONNX vs PyTorch over a whole sample"),
    ("generator_int8_velocity_error",
     ("quantize", "generator.int8.velocity_relative_l2_error"), "<=",
     "generator_int8_velocity_error_max", "relative L2 vs fp32"),
    ("generator_fp16_velocity_error",
     ("quantize", "generator.fp16.velocity_relative_l2_error"), "<=",
     "generator_fp16_velocity_error_max", "relative L2 vs fp32"),
    ("generator_conditional_accuracy", ("validate", "generator.conditional_accuracy.ci95_low"),
     ">=", "conditional_accuracy_min",
     "samples the classifier takes for their class (low end of the 95% interval)"),
    ("generator_frechet_distance", ("validate", "generator.frechet_distance.ci95_high"), "<=",
     "frechet_distance_max", "Fréchet distance to real images (high end of the 95% interval)"),
)  # fmt: skip


@dataclass(frozen=True)
class Gate:
    name: str
    value: float | None  # None: not recorded, or could not be computed
    threshold: float
    rule: Rule
    meaning: str
    problem: str = ""  # why there is no value

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.threshold if self.rule == ">=" else self.value <= self.threshold

    def __str__(self) -> str:
        shown = "—" if self.value is None else f"{self.value:.6g}"
        verdict = "ok" if self.passed else "FAIL"
        return f"{self.name:<32} {verdict:<4} {shown} ({self.rule} {self.threshold:.6g})"

    def as_dict(self) -> dict:
        verdict = {"value": self.value, "threshold": self.threshold, "rule": self.rule}
        return {
            **verdict,
            "pass": self.passed,
            **({"problem": self.problem} if self.problem else {}),
        }


def lookup(metrics: Mapping[str, Any], path: str) -> Any:
    value: Any = metrics
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def evaluate(metrics: Mapping[str, Mapping[str, Any]], limits: GateParams) -> list[Gate]:
    """Every gate, from each stage's metrics (`validate` holds the generator's judgement)."""
    gates = []
    for name, (stage, path), rule, threshold, meaning in GATES:
        value = lookup(metrics.get(stage, {}), path)
        problem = ""
        if value is None:
            unjudged = lookup(metrics.get(stage, {}), "generator.unjudged_classes")
            problem = (
                f"cannot be computed: generator classes {unjudged} have no classifier class; "
                "map them in validate.class_map"
                if unjudged
                else f"{stage} recorded no {path}; rerun it (dvc repro)"
            )
        number = None if value is None else float(value)
        gates.append(Gate(name, number, float(getattr(limits, threshold)), rule, meaning, problem))
    return gates


def markdown_table(gates: list[Gate]) -> str:
    rows = ["| gate | value | rule | result | meaning |", "|---|---|---|---|---|"]
    for gate in gates:
        result = "pass" if gate.passed else "**FAIL**"
        value = "—" if gate.value is None else f"{gate.value:.6g}"
        meaning = f"{gate.meaning}. {gate.problem}" if gate.problem else gate.meaning
        rows.append(
            f"| `{gate.name}` | {value} | {gate.rule} {gate.threshold:.6g} | {result} | {meaning} |"
        )
    return "\n".join(rows)
