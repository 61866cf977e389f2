"""The ResNet-8 classifier in its three forms: Keras, ONNX (ONNX Runtime) and PyTorch.

Every form takes raw 0..255 float32 NHWC RGB images, as MLPerf Tiny's own evaluation feeds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx2torch  # before TensorFlow: torchvision, which it imports, crashes if loaded after TF
import onnxruntime as ort
import torch

from pipeline.errors import PipelineError
from pipeline.files import atomic_path, require_file

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
BATCH_DIM = "batch"
IMAGE_SHAPE = (32, 32, 3)


class ModelError(PipelineError):
    """A model file is missing, unreadable, or not the shape the pipeline expects."""


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC images as the model's float32 input (no scaling: the model expects 0..255)."""
    return np.ascontiguousarray(images, dtype=np.float32)


def batched(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int
) -> np.ndarray:
    """Apply `predict` to uint8 images batch by batch and stack the outputs."""
    return np.concatenate(
        [predict(to_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )


# --- Keras ------------------------------------------------------------------------------------


def load_keras(path: Path):
    import keras

    require_file(path, "Keras model")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: cannot load as a Keras model ({err})") from err


def keras_to_onnx(keras_model, opset: int) -> onnx.ModelProto:
    """Convert with tf2onnx, then name the input, output and batch dimension."""
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32, name=INPUT_NAME)]
    model, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset=opset)
    rename_output(model, model.graph.output[0].name, OUTPUT_NAME)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM  # tf2onnx names it unk__N
    freeze_reshapes(model)
    onnx.checker.check_model(model, full_check=True)
    return model


def freeze_reshapes(model: onnx.ModelProto) -> None:
    """Give each Reshape whose target shape is computed at run time a constant target.

    tf2onnx's optimizer visits nodes in an order that varies between runs: now and then Flatten
    survives as Shape -> Gather -> Slice -> Concat -> Reshape, which torch.export cannot trace.
    Shape inference with data propagation knows the result, (batch, 64) here: say so as (-1, 64).
    """
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in (*inferred.input, *inferred.value_info, *inferred.output)
    }
    constants = {tensor.name for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] in constants:
            continue
        source, target = shapes.get(node.input[0]), shapes.get(node.output[0])
        keeps_batch = (
            bool(source and target) and isinstance(source[0], str) and source[0] == target[0]
        )
        if not keeps_batch or not all(isinstance(d, int) and d > 0 for d in target[1:]):
            continue
        shape = onnx.numpy_helper.from_array(
            np.array([-1, *target[1:]], np.int64), f"{node.output[0]}_shape"
        )
        model.graph.initializer.append(shape)
        node.input[1] = shape.name
    remove_dead_nodes(model)


def remove_dead_nodes(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    graph = model.graph
    needed = {value.name for value in graph.output}
    live = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    live.reverse()
    del graph.node[:]
    graph.node.extend(live)
    kept = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def rename_output(model: onnx.ModelProto, old: str, new: str) -> None:
    for node in model.graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    for value in model.graph.output:
        if value.name == old:
            value.name = new


# --- ONNX ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    nodes: int
    parameters: int
    opset: int


def summarize(model: onnx.ModelProto) -> ModelSummary:
    def shapes(values) -> dict[str, list[int | str]]:
        return {
            v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in values
        }

    parameters = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return ModelSummary(
        shapes(model.graph.input),
        shapes(model.graph.output),
        len(model.graph.node),
        parameters,
        opset,
    )


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle workers otherwise spin, stealing the cores from the next session or framework to run:
    # with it off, int8 vs fp32 measured side by side went from 1.0-1.3x to 1.4-1.6x here.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    require_file(path, "ONNX model")
    options = session_options(threads)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types per failure
        raise ModelError(f"{path}: ONNX Runtime cannot load it ({err})") from err


def feature_session(path: Path, threads: int) -> ort.InferenceSession:
    """A session whose output is the penultimate layer: the input of the final MatMul/Gemm."""
    model = onnx.load(str(require_file(path, "ONNX model")))
    head = [node for node in model.graph.node if node.op_type in ("MatMul", "Gemm")][-1]
    del model.graph.output[:]
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(head.input[0]))
    return ort.InferenceSession(
        model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
    )


def ort_predict(session: ort.InferenceSession) -> Callable[[np.ndarray], np.ndarray]:
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


# --- PyTorch ----------------------------------------------------------------------------------


def onnx_to_torch(model: onnx.ModelProto) -> torch.fx.GraphModule:
    """Convert with onnx2torch, in eval mode, with constant-shape reshapes made export-friendly."""
    from onnx2torch.node_converters.reshape import OnnxReshape

    module = onnx2torch.convert(model).eval()
    graph = module.graph
    for node in list(graph.nodes):
        # OnnxReshape branches on the shape tensor's values, which torch.export cannot trace.
        if node.op != "call_module" or not isinstance(
            module.get_submodule(node.target), OnnxReshape
        ):
            continue
        source, shape_node = node.args
        if shape_node.op != "get_attr":
            raise ModelError(
                f"reshape {node.target} takes its target shape from the graph at run time, "
                "which torch.export cannot trace; convert with a constant shape"
            )
        shape = tuple(int(s) for s in module.get_buffer(shape_node.target))
        if 0 in shape:
            raise ModelError(
                f"reshape {node.target} copies a dimension (0 in {shape}); unsupported for export"
            )
        with graph.inserting_before(node):
            node.replace_all_uses_with(graph.call_function(torch.reshape, (source, shape)))
        graph.erase_node(node)
    graph.eliminate_dead_code()
    module.recompile()
    return module


def export_torch(module: torch.nn.Module, path: Path, max_batch: int = 65_536) -> None:
    """Save a `torch.export` program with a dynamic batch: loading it runs no pickled code."""
    example = torch.zeros(2, *IMAGE_SHAPE)
    batch = torch.export.Dim(BATCH_DIM, min=1, max=max_batch)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    with atomic_path(path) as tmp:
        torch.export.save(program, tmp)


def load_torch(path: Path) -> torch.nn.Module:
    require_file(path, "PyTorch program")
    return torch.export.load(path).module()


def torch_predict(module: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).numpy()

    return predict


# --- comparison ---------------------------------------------------------------------------------


def parity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """How closely two models' outputs on the same images agree."""
    return {
        "max_abs_diff": float(np.max(np.abs(reference - candidate))),
        "argmax_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
    }
