"""ONNX Runtime sessions for every stage that runs an ONNX model, configured in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from pipeline.files import require_file
from pipeline.runtime.models import ModelError
from pipeline.schema import bounded

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RuntimeParams:
    """The `runtime` params: how ONNX Runtime runs and times models."""

    threads: int = bounded(0, 256)  # intra-op threads; 0 lets ONNX Runtime choose
    batch_size: int = bounded(1, 65_536)


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle workers otherwise spin, stealing the cores from the next session or framework to run:
    # with it off, int8 vs fp32 measured side by side went from 1.0-1.3x to 1.4-1.6x here.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    require_file(path, "ONNX model")
    try:
        return ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
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


def predictor(session: ort.InferenceSession) -> Predict:
    """The session's first output for a batch fed to its only input."""
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC images as an image classifier's float32 input (0..255: no scaling)."""
    return np.ascontiguousarray(images, dtype=np.float32)


def batched(predict: Predict, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Apply `predict` to uint8 images batch by batch and stack the outputs."""
    return np.concatenate(
        [predict(to_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )
