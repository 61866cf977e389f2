"""The trained classifier as ONNX: logits for a dynamic batch of raw 0..255 NHWC images, with the
metadata every reader takes from the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from pipeline.classifier.graph import BATCH_DIM, INPUT_NAME, INPUT_RANGE, LAYOUT, ClassifierInfo
from pipeline.classifier.resnet import ResNet8
from pipeline.runtime.models import write_info

OUTPUT_NAME = "logits"


def export_onnx(model: ResNet8, class_names: tuple[str, ...], path: Path, opset: int) -> None:
    """The model in eval mode, traced (TorchScript exporter) at a batch of 2, so that no size-1
    axis is specialised."""
    config = model.config
    example = torch.zeros(2, config.image_size, config.image_size, config.channels)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_DIM}, OUTPUT_NAME: {0: BATCH_DIM}},
            opset_version=opset,
            dynamo=False,
        )
    exported = onnx.load(str(path))
    info = ClassifierInfo(
        role="classifier",
        class_names=tuple(class_names),
        output_name=OUTPUT_NAME,
        image_size=config.image_size,
        channels=config.channels,
        layout=LAYOUT,
        input_name=INPUT_NAME,
        input_range=INPUT_RANGE,
        output_kind="logits",
    )
    write_info(exported, info)
    onnx.checker.check_model(exported, full_check=True)
    onnx.save(exported, str(path))
