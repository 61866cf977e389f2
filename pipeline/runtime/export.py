"""A PyTorch module to ONNX, the one way both branches export: the TorchScript-based exporter
(dynamo=False, which needs only the onnx package), a dynamic batch on every input and output, the
model's facts in its metadata, checked before it is saved."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from pipeline.runtime.models import BATCH_DIM, ModelInfo, write_info


def export_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    names: tuple[tuple[str, ...], tuple[str, ...]],
    opset: int,
    info: ModelInfo,
) -> None:
    """`module` (in eval mode) traced at `example`, a batch of 2 so that the tracer does not
    specialise on size-1 axes; `names` are the input names and output names."""
    inputs, outputs = names
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            example,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={name: {0: BATCH_DIM} for name in (*inputs, *outputs)},
            opset_version=opset,
            dynamo=False,
        )
    exported = onnx.load(str(path))
    write_info(exported, info)
    onnx.checker.check_model(exported, full_check=True)
    onnx.save(exported, str(path))
