"""A PyTorch module to ONNX, the one way both branches export: the TorchScript-based exporter
(dynamo=False, which needs only the onnx package), a dynamic batch on every input and output, the
model's facts in its metadata, checked before it is saved."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import onnx
import onnxoptimizer
import onnxruntime as ort
import torch
from torch import nn

from pipeline.runtime.models import BATCH_DIM, ModelInfo, copy_info, write_info


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


def fold_for_inference(path: Path) -> None:
    """Rewrite the ONNX file at `path` as inference runs it: ONNX Runtime's basic optimisations
    (constants folded, batch norm folded into the convolutions; standard ONNX operators only),
    then each zero Pad folded into the Conv it feeds, so that a padding no convolution can express
    symmetrically (TensorFlow's "same" at stride 2) costs no node of its own, in fp32 nor in an
    int8 copy. The metadata is kept."""
    with tempfile.TemporaryDirectory(prefix="fold_") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "basic.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        passes = ["fuse_pad_into_conv", "eliminate_unused_initializer"]  # the pads are left over
        folded = onnxoptimizer.optimize(onnx.load(options.optimized_model_filepath), passes)
    copy_info(path, folded)
    onnx.checker.check_model(folded, full_check=True)
    onnx.save(folded, str(path))
