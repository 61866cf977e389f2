"""The generator as ONNX: one guided velocity evaluation with a dynamic batch, the metadata a
sampler needs, and how closely the exported graph (or a quantised copy) follows the original."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from pipeline.generator.dit import DiT, GuidedDiT
from pipeline.generator.flow import solve
from pipeline.generator.graph import (
    INPUT_NAMES,
    LAYOUT,
    OUTPUT_NAME,
    VALUE_RANGE,
    GeneratorInfo,
    random_inputs,
)
from pipeline.generator.sampling import (
    SampleParams,
    class_labels,
    fixed_noise,
    onnx_velocity,
    to_uint8,
    torch_velocity,
)
from pipeline.runtime.models import write_info


def graph_info(model: DiT, class_names: tuple[str, ...]) -> GeneratorInfo:
    """The facts a reader of the exported graph needs, as its metadata records them."""
    cfg = model.config
    return GeneratorInfo(
        role="generator",
        class_names=tuple(class_names),
        output_name=OUTPUT_NAME,
        image_size=cfg.image_size,
        channels=cfg.channels,
        layout=LAYOUT,
        input_names=INPUT_NAMES,
        value_range=VALUE_RANGE,
        null_class=model.null_class,
    )


def export_onnx(model: DiT, class_names: tuple[str, ...], path: Path, opset: int) -> None:
    """Export the guided velocity (x, t, y, guidance_scale) -> velocity with a dynamic batch.

    Uses the TorchScript-based exporter (dynamo=False), which needs only the onnx package, with
    an example batch of 2: a batch of 1 lets the tracer specialise on size-1 axes.
    """
    cfg = model.config
    example = (
        torch.zeros(2, cfg.channels, cfg.image_size, cfg.image_size),
        torch.full((2,), 0.5),
        torch.zeros(2, dtype=torch.int64),
        torch.ones(2),
    )
    dynamic_axes = {name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            GuidedDiT(model).eval(),
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
        )
    exported = onnx.load(str(path))
    write_info(exported, graph_info(model, class_names))
    onnx.checker.check_model(exported, full_check=True)
    onnx.save(exported, str(path))


def velocity_difference(
    model: DiT, session: ort.InferenceSession, info: GeneratorInfo, batch: int, seed: int
) -> float:
    """max |v_onnx - v_torch| on random inputs shaped as the exported graph's `info` says."""
    inputs = random_inputs(info, batch, seed)
    with torch.no_grad():
        expected = model.forward_with_cfg(*(torch.from_numpy(v) for v in inputs.values())).numpy()
    return float(np.abs(session.run(None, inputs)[0] - expected).max())


def sample_parity(
    model: DiT, session: ort.InferenceSession, sample: SampleParams
) -> tuple[np.ndarray, np.ndarray, float]:
    """The same fixed-noise sample grid through PyTorch and through ONNX Runtime: the uint8
    images of each, and the largest difference before rounding."""
    c = model.config
    noise = fixed_noise(
        c.num_classes * sample.per_class, (c.channels, c.image_size, c.image_size), sample.seed
    )
    labels = class_labels(c.num_classes, sample.per_class)
    runs = [
        solve(velocity(runner, labels, sample.guidance_scale), noise, sample.steps, sample.solver)
        for velocity, runner in ((torch_velocity, model), (onnx_velocity, session))
    ]
    return to_uint8(runs[0]), to_uint8(runs[1]), float((runs[0] - runs[1]).abs().max())
