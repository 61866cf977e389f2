"""Post-training quantisation of ONNX models with ONNX Runtime, each output written atomically.

- quantize_classifier_int8: static int8 (QDQ) for an image classifier, calibrated on real images.
- convert_fp16: float16 weights and activations, float32 inputs and outputs.
- quantize_dynamic_matmul: dynamic int8 of weight MatMuls only, for transformer-like models.

Every output keeps its source's metadata_props. The int8 settings were chosen by measurement;
the README's Benchmarks section gives the comparison.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from pipeline.errors import PipelineError
from pipeline.files import atomic_path, require_file
from pipeline.runtime.models import copy_info

PathLike = str | os.PathLike[str]

# u8 activations with s8 weights: the one int8 pairing with ORT's fast x86 kernels.
ACTIVATIONS, WEIGHTS = QuantType.QUInt8, QuantType.QInt8
# 7-bit weights: x86 CPUs without VNNI saturate u8 x s8 products of 8-bit weights, so the same
# file would score differently from one CPU to the next.
REDUCE_RANGE = True
# Percentile ranges clip rare outliers; a float AveragePool keeps the pooled features fine.
PERCENTILE = 99.999
FLOAT_OP_TYPES = ("Softmax", "AveragePool")
CALIBRATION_BATCH = 64


def quantize_classifier(
    variants: dict[str, Path], calibration_images: np.ndarray, per_channel: bool
) -> None:
    """The `int8` and `fp16` variants of the classifier at `variants["fp32"]`."""
    quantize_classifier_int8(variants["fp32"], variants["int8"], calibration_images, per_channel)
    convert_fp16(variants["fp32"], variants["fp16"])


def quantize_generator(variants: dict[str, Path]) -> None:
    """The `int8` (weight MatMuls, dynamic) and `fp16` variants of the generator."""
    quantize_dynamic_matmul(variants["fp32"], variants["int8"])
    convert_fp16(variants["fp32"], variants["fp16"])


class ImageCalibrationReader(CalibrationDataReader):
    """Feeds float32 NHWC images (raw 0..255) to the calibrator in fixed-size batches."""

    def __init__(self, input_name: str, images: np.ndarray, batch_size: int = 64) -> None:
        self.input_name = input_name
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch_size = batch_size
        self._start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._start >= len(self.images):
            return None
        idx = np.arange(self._start, self._start + self.batch_size) % len(self.images)
        # equal-size batches (last one wraps round): histogram calibrators stack them per tensor
        batch = self.images[idx] if len(self.images) >= self.batch_size else self.images
        self._start += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        self._start = 0


def _float_nodes(model: onnx.ModelProto, op_types: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Nodes to leave float, and op types whose output (the logits) must stay float.

    Softmax and op_types stay float. A node feeding a Softmax keeps int8 inputs but float output
    when every node of its type feeds a Softmax (one final Gemm/MatMul); otherwise it stays float.
    """
    nodes = list(model.graph.node)
    producers = {out: node for node in nodes for out in node.output}
    softmax = [n for n in nodes if n.op_type == "Softmax"]
    feeders = [producers[n.input[0]] for n in softmax if n.input[0] in producers]
    feeder_names = {n.name for n in feeders}
    float_output_types = {
        f.op_type
        for f in feeders
        if all(n.name in feeder_names for n in nodes if n.op_type == f.op_type)
    }
    keep = [n.name for n in nodes if n.op_type in op_types or n.op_type == "Softmax"]
    keep += [f.name for f in feeders if f.op_type not in float_output_types]
    return keep, sorted(float_output_types)


def quantize_classifier_int8(
    model_path: PathLike, output_path: PathLike, calibration_images: np.ndarray, per_channel: bool
) -> Path:
    """Static int8 (QDQ) quantisation of an image classifier; returns output_path.

    calibration_images: float32 batch in the layout of the model's single input (here NHWC,
    raw 0..255). Softmax always stays float and so do its input logits, so no QuantizeLinear or
    DequantizeLinear sits next to it.
    """
    src = require_file(model_path, "ONNX model")
    if len(calibration_images) == 0:
        raise ValueError("calibration_images is empty")
    with tempfile.TemporaryDirectory(prefix="quant_pre_") as tmp_dir:
        pre = Path(tmp_dir) / "pre.onnx"
        # shape inference + ORT graph optimisation (BN/Mul/Add folding into Conv) before calibrating
        quant_pre_process(str(src), str(pre))
        pre_model = onnx.load(str(pre))
        # nodes_to_exclude matches by name, and an empty name would exclude every unnamed node
        for i, node in enumerate(pre_model.graph.node):
            node.name = node.name or f"{node.op_type}_{i}"
        onnx.save(pre_model, str(pre))
        float_names, float_output_types = _float_nodes(pre_model, FLOAT_OP_TYPES)
        input_name = pre_model.graph.input[0].name
        extra: dict[str, object] = {"CalibPercentile": PERCENTILE}
        if float_output_types:
            # QGemm can emit float directly, so the logits need no Q/DQ round-trip
            extra["OpTypesToExcludeOutputQuantization"] = float_output_types
        reader = ImageCalibrationReader(input_name, calibration_images, CALIBRATION_BATCH)
        with atomic_path(output_path) as tmp_out:
            quantize_static(
                str(pre),
                str(tmp_out),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=ACTIVATIONS,
                weight_type=WEIGHTS,
                reduce_range=REDUCE_RANGE,
                nodes_to_exclude=float_names,
                calibrate_method=CalibrationMethod.Percentile,
                extra_options=extra,
            )
            keep_metadata(src, tmp_out)
    return Path(output_path)


def convert_fp16(model_path: PathLike, output_path: PathLike) -> Path:
    """Float16 copy of the model with float32 inputs/outputs kept (Cast nodes at the edges).

    onnxconverter-common's own keep_io_types mistypes graphs where an input feeds a Reshape or
    the model casts to float itself (the DiT does both), so the edges are cast here instead.
    """
    from onnxconverter_common import float16  # heavy import, only needed here

    model = onnx.load(str(require_file(model_path, "ONNX model")))
    own_casts = {
        n.name
        for n in model.graph.node
        if n.op_type == "Cast"
        and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)
    }
    half = float16.convert_float_to_float16(model, keep_io_types=False)
    for node in half.graph.node:
        if node.name in own_casts:  # the model's casts to float now feed float16 neighbours
            for attribute in node.attribute:
                if attribute.name == "to":
                    attribute.i = TensorProto.FLOAT16
    _float32_edges(half.graph)
    onnx.checker.check_model(half)
    with atomic_path(output_path) as tmp_out:
        onnx.save(half, str(tmp_out))
        keep_metadata(model_path, tmp_out)
    return Path(output_path)


def _float32_edges(graph: onnx.GraphProto) -> None:
    """Give float16 graph inputs and outputs float32 types, with Casts just inside the edges."""
    first, last = [], []
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            half = f"{value.name}_fp16"
            for node in graph.node:
                node.input[:] = [half if name == value.name else name for name in node.input]
            first.append(
                helper.make_node(
                    "Cast", [value.name], [half], name=f"{half}_cast", to=TensorProto.FLOAT16
                )
            )
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            half = f"{value.name}_fp16"
            for node in graph.node:
                node.input[:] = [half if name == value.name else name for name in node.input]
                node.output[:] = [half if name == value.name else name for name in node.output]
            last.append(
                helper.make_node(
                    "Cast", [half], [value.name], name=f"{half}_cast", to=TensorProto.FLOAT
                )
            )
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    nodes = [*first, *graph.node, *last]
    del graph.node[:]
    graph.node.extend(nodes)


def quantize_dynamic_matmul(model_path: PathLike, output_path: PathLike) -> Path:
    """Dynamic int8 of the weight MatMuls (MatMulInteger); returns output_path.

    Kept float: Conv (dynamically quantised Conv becomes ConvInteger, which the ORT CPU EP has
    no kernel for); MatMuls of two activations (attention: no weights to shrink, only error to
    add); and the last weight MatMul, the output projection, which alone carries about half
    the int8 error into the output at a cost of a few kilobytes.
    """
    src = require_file(model_path, "ONNX model")
    targets = weight_matmuls(onnx.load(str(src)))[:-1]
    if not targets or not all(targets):
        # ORT reads an empty list as "quantise every node"
        raise PipelineError(f"{src}: needs two or more named weight MatMuls to quantise to int8")
    with atomic_path(output_path) as tmp_out:
        quantize_dynamic(
            str(src),
            str(tmp_out),
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=targets,
            weight_type=QuantType.QInt8,
        )
        keep_metadata(src, tmp_out)
    return Path(output_path)


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMul nodes with a constant operand, in graph order."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and any(i in constants for i in n.input)
    ]


def keep_metadata(source: PathLike, target: PathLike) -> None:
    """Give `target` the metadata_props of `source` (the quantisers do not carry them over)."""
    model = onnx.load(str(target))
    copy_info(Path(source), model)
    onnx.save(model, str(target))
