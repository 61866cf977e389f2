"""The generator as ONNX: one guided velocity evaluation with a dynamic batch, the metadata a
sampler needs, and how closely the exported graph (or a quantised copy) follows the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
from pipeline.runtime.export import export_onnx as export_graph


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
    """Export the guided velocity (x, t, y, guidance_scale) -> velocity with a dynamic batch."""
    cfg = model.config
    example = (
        torch.zeros(2, cfg.channels, cfg.image_size, cfg.image_size),
        torch.full((2,), 0.5),
        torch.zeros(2, dtype=torch.int64),
        torch.ones(2),
    )
    names = (INPUT_NAMES, (OUTPUT_NAME,))
    export_graph(GuidedDiT(model), example, path, names, opset, graph_info(model, class_names))


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
        solve(velocity(runner, labels, sample.guidance), noise, sample.steps, sample.solver,
              sample.time_shift)
        for velocity, runner in ((torch_velocity, model), (onnx_velocity, session))
    ]  # fmt: skip
    return to_uint8(runs[0]), to_uint8(runs[1]), float((runs[0] - runs[1]).abs().max())
