"""Quality gates: each reads one value the stages recorded and holds it to one threshold.

Upstream stages only measure; every verdict is given here, against `validate.gates`. A value
that could not be computed fails its gate: a gate never passes silently. A gate that does not
apply to the data (the gain over the converted CIFAR-10 model, for other classes) says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pipeline.quality.judge import Judgement
from pipeline.quality.markdown import table
from pipeline.quality.recorded import Recorded
from pipeline.schema import bounded


@dataclass(frozen=True)
class GateParams:
    """The `validate.gates` params: one threshold per gate."""

    perf_accuracy_min: float = bounded(0.0, 1.0)  # MLPerf Tiny's quality target is 0.85
    conversion_agreement_min: float = bounded(0.0, 1.0)  # argmax agreement of two forms
    conversion_max_abs_diff_max: float = bounded(0.0, 1.0)  # largest output difference
    int8_accuracy_drop_max: float = bounded(-1.0, 1.0)  # test-set accuracy points lost to int8
    classifier_bytes_max: int = bounded(1, 10**10)
    classifier_int8_bytes_max: int = bounded(1, 10**10)
    trained_accuracy_min: float = bounded(0.0, 1.0)  # the trained classifier, test images
    trained_gain_min: float = bounded(-1.0, 1.0)  # over the converted model, same test images
    trained_int8_accuracy_drop_max: float = bounded(-1.0, 1.0)
    # the fp32 file against its parameters: 4 bytes each and the graph; a file that holds its
    # weights twice or in float64 fails, whatever the preset's network size
    generator_bytes_per_parameter_max: float = bounded(4.0, 1000.0)
    generator_export_velocity_diff_max: float = bounded(0.0, 1.0)
    generator_export_sample_diff_max: float = bounded(0.0, 2.0)  # in [-1, 1] pixel units
    generator_int8_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    generator_fp16_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    conditional_accuracy_min: float = bounded(0.0, 1.0)  # held against the interval's low end
    held_out_accuracy_min: float = bounded(0.0, 1.0)  # the held-out judge's, its low end
    frechet_distance_max: float = bounded(0.0, 1e6)  # held against the interval's high end
    cas_ratio_min: float = bounded(0.0, 10.0)  # trained on samples against on real images


Rule = Literal[">=", "<="]
Read = Callable[[Recorded, Judgement], float | None]


def gain(r: Recorded, g: Judgement) -> float | None:
    """Test accuracy gained over the converted model, where both classify the same classes."""
    if r.train_classifier.perf is None:  # its classes are not the converted model's
        return None
    return round(r.train_classifier.test.accuracy - r.onnx_eval.test.accuracy, 6)


@dataclass(frozen=True)
class GateSpec:
    """A gate: the value it reads from what the stages recorded, its rule and threshold."""

    name: str
    read: Read
    rule: Rule
    threshold: str  # the GateParams field that holds the threshold
    meaning: str
    unless: str = ""  # when `read` gives None: why the gate does not apply (else it fails)


GATES: tuple[GateSpec, ...] = (
    GateSpec("classifier_perf_accuracy", lambda r, g: r.onnx_eval.perf.accuracy, ">=",
             "perf_accuracy_min", "converted model: ONNX top-1 on the perf subset"),
    GateSpec("keras_onnx_agreement", lambda r, g: r.keras_to_onnx.parity_vs_keras.argmax_agreement,
             ">=", "conversion_agreement_min", "Keras and ONNX pick the same class"),
    GateSpec("keras_onnx_max_abs_diff", lambda r, g: r.keras_to_onnx.parity_vs_keras.max_abs_diff,
             "<=", "conversion_max_abs_diff_max", "largest probability difference"),
    GateSpec("onnx_torch_agreement", lambda r, g: r.onnx_to_torch.parity_vs_onnx.argmax_agreement,
             ">=", "conversion_agreement_min", "ONNX and PyTorch pick the same class"),
    GateSpec("onnx_torch_max_abs_diff", lambda r, g: r.onnx_to_torch.parity_vs_onnx.max_abs_diff,
             "<=", "conversion_max_abs_diff_max", "largest probability difference"),
    GateSpec("int8_accuracy_drop", lambda r, g: r.quantize.converted["int8"].test_accuracy_drop,
             "<=", "int8_accuracy_drop_max", "converted model: test accuracy lost to int8"),
    GateSpec("classifier_bytes", lambda r, g: r.quantize.converted["fp32"].bytes, "<=",
             "classifier_bytes_max", "converted model: fp32 ONNX file size"),
    GateSpec("classifier_int8_bytes", lambda r, g: r.quantize.converted["int8"].bytes, "<=",
             "classifier_int8_bytes_max", "converted model: int8 ONNX file size"),
    GateSpec("trained_accuracy", lambda r, g: r.train_classifier.test.accuracy, ">=",
             "trained_accuracy_min", "trained classifier: ONNX top-1 on the test images"),
    GateSpec("trained_gain", gain, ">=", "trained_gain_min",
             "trained classifier: test accuracy gained over the converted model",
             unless="not applicable: the classes are not the converted model's"),
    GateSpec("trained_int8_accuracy_drop",
             lambda r, g: r.quantize.trained["int8"].test_accuracy_drop, "<=",
             "trained_int8_accuracy_drop_max", "trained classifier: test accuracy lost to int8"),
    GateSpec("trained_export_agreement",
             lambda r, g: r.train_classifier.parity_vs_torch.argmax_agreement, ">=",
             "conversion_agreement_min", "trained classifier: ONNX and PyTorch agree on the class"),
    GateSpec("trained_export_max_abs_diff",
             lambda r, g: r.train_classifier.parity_vs_torch.max_abs_diff, "<=",
             "conversion_max_abs_diff_max", "trained classifier: largest logit difference"),
    GateSpec("generator_bytes_per_parameter",
             lambda r, g: round(r.quantize.generator["fp32"].bytes / r.train_dit.parameters, 4),
             "<=", "generator_bytes_per_parameter_max",
             "fp32 generator ONNX file size per network parameter"),
    GateSpec("generator_export_velocity_diff",
             lambda r, g: r.export_generator.velocity_max_abs_diff, "<=",
             "generator_export_velocity_diff_max", "ONNX vs PyTorch velocity"),
    GateSpec("generator_export_sample_diff", lambda r, g: r.export_generator.sample_max_abs_diff,
             "<=", "generator_export_sample_diff_max", "ONNX vs PyTorch over a whole sample"),
    GateSpec("generator_int8_velocity_error",
             lambda r, g: r.quantize.generator["int8"].velocity_relative_l2_error, "<=",
             "generator_int8_velocity_error_max", "relative L2 vs fp32"),
    GateSpec("generator_fp16_velocity_error",
             lambda r, g: r.quantize.generator["fp16"].velocity_relative_l2_error, "<=",
             "generator_fp16_velocity_error_max", "relative L2 vs fp32"),
    GateSpec("generator_conditional_accuracy", lambda r, g: g.conditional_accuracy.ci95_low, ">=",
             "conditional_accuracy_min",
             "samples the trained classifier takes for their class (low end of the 95% interval)"),
    GateSpec("generator_held_out_accuracy",
             lambda r, g: g.held_out.conditional_accuracy.ci95_low if g.held_out else None, ">=",
             "held_out_accuracy_min",
             "samples a classifier that took no part takes for their class (low end of the 95% "
             "interval)", unless="not applicable: no held-out classifier knows these classes"),
    GateSpec("generator_frechet_distance", lambda r, g: g.frechet_distance.ci95_high, "<=",
             "frechet_distance_max",
             "Fréchet distance to real images (high end of the 95% interval)"),
    GateSpec("generator_cas_ratio", lambda r, g: g.cas.ratio if g.cas else None, ">=",
             "cas_ratio_min",
             "test accuracy of a classifier trained on samples only, against one trained on as "
             "many real images (CAS)",
             unless="not applicable: CAS is off (validate.cas.samples_per_class: 0)"),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """One gate in metrics/validate.json."""

    value: float | None  # None: the gate does not apply, or the value could not be computed
    threshold: float
    rule: Rule
    passed: bool
    problem: str = ""

    @classmethod
    def of(cls, value: float | None, rule: Rule, threshold: float, unless: str = "") -> Verdict:
        """A missing value fails, unless the gate does not apply (`unless` says why)."""
        if value is None:
            return cls(None, threshold, rule, bool(unless), unless or "could not be computed")
        passed = value >= threshold if rule == ">=" else value <= threshold
        return cls(value, threshold, rule, passed)


@dataclass(frozen=True)
class Gate:
    name: str
    meaning: str
    verdict: Verdict

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def __str__(self) -> str:
        v = self.verdict
        shown = "—" if v.value is None else f"{v.value:.6g}"
        result = "ok" if v.passed else "FAIL"
        return f"{self.name:<32} {result:<4} {shown} ({v.rule} {v.threshold:.6g})"


@dataclass(frozen=True)
class ValidationMetrics:
    """metrics/validate.json: every gate's verdict, and the generator's judgement."""

    gates: dict[str, Verdict]
    passed: bool
    failing: str  # the failing gates, comma-separated: a column `dvc exp show` can show
    generator: Judgement


def evaluate(recorded: Recorded, judged: Judgement, limits: GateParams) -> list[Gate]:
    """Every gate, read from the stages' records and the generator's judgement."""
    gates = []
    for spec in GATES:
        value = spec.read(recorded, judged)
        number = None if value is None else float(value)
        threshold = float(getattr(limits, spec.threshold))
        gates.append(Gate(spec.name, spec.meaning, Verdict.of(number, spec.rule, threshold,
                                                              spec.unless)))  # fmt: skip
    return gates


def markdown_table(gates: list[Gate]) -> str:
    rows = []
    for gate in gates:
        v = gate.verdict
        value = "—" if v.value is None else f"{v.value:.6g}"
        meaning = f"{gate.meaning}. {v.problem}" if v.problem else gate.meaning
        result = ("pass" if v.value is not None else "n/a") if v.passed else "**FAIL**"
        rows.append((f"`{gate.name}`", value, f"{v.rule} {v.threshold:.6g}", result, meaning))
    return table(["gate", "value", "rule", "result", "meaning"], rows)
