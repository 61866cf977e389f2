"""The classifier graph's interface: what every form of the classifier takes and gives, and the
facts about it that readers take from the file's metadata.

Every form takes raw 0..255 float32 NHWC RGB images, as MLPerf Tiny's own evaluation feeds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pipeline.runtime.models import ModelInfo

INPUT_NAME = "input"
BATCH_DIM = "batch"
INPUT_RANGE = (0.0, 255.0)  # raw pixel values, no scaling
LAYOUT = "NHWC"
OutputKind = Literal["probabilities", "logits"]


@dataclass(frozen=True)
class ClassifierInfo(ModelInfo):
    """A classifier's metadata_props."""

    ROLE: ClassVar[str] = "classifier"

    input_name: str
    input_range: tuple[float, float]
    output_kind: OutputKind  # what the output holds: readers take a softmax of logits
