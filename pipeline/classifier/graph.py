"""The classifier graph's interface: what every form of the classifier takes and gives, and the
facts about it that readers take from the file's metadata.

Every form takes raw 0..255 float32 NHWC RGB images, as MLPerf Tiny's own evaluation feeds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pipeline.data.images import CHANNELS
from pipeline.runtime.models import ModelInfo

INPUT_NAME = "input"
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


def classifier_info(
    class_names: tuple[str, ...], image_size: int, output_name: str, output_kind: OutputKind
) -> ClassifierInfo:
    """What every form of the classifier records: raw 0..255 NHWC RGB images in."""
    return ClassifierInfo(
        role="classifier",
        class_names=tuple(class_names),
        output_name=output_name,
        image_size=image_size,
        channels=CHANNELS,
        layout=LAYOUT,
        input_name=INPUT_NAME,
        input_range=INPUT_RANGE,
        output_kind=output_kind,
    )
