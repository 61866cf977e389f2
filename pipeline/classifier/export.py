"""The trained classifier as ONNX: logits for a dynamic batch of raw 0..255 NHWC images, with the
metadata every reader takes from the file, folded as inference runs it."""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.classifier.graph import INPUT_NAME, classifier_info
from pipeline.classifier.resnet import ResNet8
from pipeline.runtime.export import export_onnx as export_graph
from pipeline.runtime.export import fold_for_inference

OUTPUT_NAME = "logits"


def export_onnx(model: ResNet8, class_names: tuple[str, ...], path: Path, opset: int) -> None:
    config = model.config
    example = (torch.zeros(2, config.image_size, config.image_size, config.channels),)
    info = classifier_info(class_names, config.image_size, OUTPUT_NAME, "logits")
    export_graph(model, example, path, ((INPUT_NAME,), (OUTPUT_NAME,)), opset, info)
    fold_for_inference(path)  # no Pad nodes, nor their quantise/dequantise pairs in int8
