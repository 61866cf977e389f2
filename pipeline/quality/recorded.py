"""What the stages recorded, as `validate` reads it: one typed record per metrics file, each
declared beside the code that computes it."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from pipeline.classifier.evaluation import (
    KerasToOnnxMetrics,
    OnnxEvalMetrics,
    OnnxToTorchMetrics,
)
from pipeline.classifier.training import ClassifierTrainingMetrics
from pipeline.generator.graph import ExportMetrics
from pipeline.generator.training import GeneratorTrainingMetrics
from pipeline.project import paths
from pipeline.records import read_record
from pipeline.runtime.variants import QuantizeMetrics


@dataclass(frozen=True)
class Recorded:
    """The metrics files of the stages upstream of `validate`, one field per stage."""

    keras_to_onnx: KerasToOnnxMetrics
    onnx_eval: OnnxEvalMetrics
    onnx_to_torch: OnnxToTorchMetrics
    train_classifier: ClassifierTrainingMetrics
    train_dit: GeneratorTrainingMetrics
    export_generator: ExportMetrics
    quantize: QuantizeMetrics

    @classmethod
    def load(cls) -> Recorded:
        """Each stage's metrics file, parsed strictly: a missing file or key names the stage."""
        hints = typing.get_type_hints(cls)
        return cls(
            **{
                stage.name: read_record(
                    hints[stage.name], paths.metrics(stage.name), f"metrics of `{stage.name}`"
                )
                for stage in dataclasses.fields(cls)
            }
        )
