"""The Keras ResNet-8 to ONNX with tf2onnx: a graph with fixed shapes, canonical names and the
metadata a reader needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from pipeline.classifier.graph import INPUT_NAME, classifier_info
from pipeline.data.images import CHANNELS
from pipeline.files import require_file
from pipeline.runtime.models import (
    BATCH_DIM,
    ModelError,
    canonicalize,
    remove_dead_nodes,
    write_info,
)

OUTPUT_NAME = "probabilities"


def load_keras(path: Path):
    import keras

    require_file(path, "Keras model")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: cannot load as a Keras model ({err})") from err


def keras_to_onnx(keras_model, opset: int, class_names: tuple[str, ...]) -> onnx.ModelProto:
    """Convert with tf2onnx; name the input, output and batch dimension; record the metadata."""
    import tensorflow as tf
    import tf2onnx

    size = keras_model.input_shape[1]
    signature = [tf.TensorSpec((None, size, size, CHANNELS), tf.float32, name=INPUT_NAME)]
    model, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset=opset)
    outputs = keras_model.output_shape[-1]
    if outputs != len(class_names):
        raise ModelError(f"the Keras model has {outputs} outputs but the data {len(class_names)}")
    rename_output(model, model.graph.output[0].name, OUTPUT_NAME)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM  # tf2onnx names it unk__N
    freeze_reshapes(model)
    canonicalize(model)
    info = classifier_info(class_names, size, OUTPUT_NAME, "probabilities")
    write_info(model, info)
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


def rename_output(model: onnx.ModelProto, old: str, new: str) -> None:
    for node in model.graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    for value in model.graph.output:
        if value.name == old:
            value.name = new
