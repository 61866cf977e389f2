"""Records of a model's variants (quantised copies) measured against the original."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassifierVariant:
    """A variant of a classifier (quantised, say): its size and accuracy against the first."""

    bytes: int
    test_accuracy: float
    perf_accuracy: float | None  # None where the data has no perf subset
    test_accuracy_drop: float  # test accuracy lost against the first variant, the reference


@dataclass(frozen=True)
class GeneratorVariant:
    """A variant's size, and its velocity error against the reference on fixed inputs."""

    bytes: int
    velocity_max_abs_error: float
    velocity_relative_l2_error: float


@dataclass(frozen=True)
class QuantizeMetrics:
    """metrics/quantize.json: every variant beside its fp32 original (the first of each)."""

    converted: dict[str, ClassifierVariant]  # the converted ResNet-8
    trained: dict[str, ClassifierVariant]  # the trained classifier
    generator: dict[str, GeneratorVariant]
