"""Stage `export_generator`: one guided velocity step of the EMA DiT to ONNX, checked for parity."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.torch import load_file

from pipeline import classifier, paths
from pipeline.console import run_stage
from pipeline.dit import DiT, DiTConfig, export_onnx
from pipeline.errors import PipelineError
from pipeline.files import atomic_path, read_json, require_file, write_json
from pipeline.flow import cfg_velocity_fn, sample
from pipeline.onnx_sampler import onnx_velocity
from pipeline.params import as_dict, bounded, load_params
from pipeline.runtime import RuntimeParams
from pipeline.sampling import SampleConfig, class_labels, fixed_noise, save_grid, to_uint8
from pipeline.tracking import log_metrics, stage_run
from stages.train_dit import TrainDitParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportGeneratorParams:
    opset: int = bounded(17, 21)
    parity_batch_sizes: list[int] = bounded(2, 4096)  # dynamic batch checked at each (two+)
    velocity_tolerance: float = bounded(0.0, 1.0)  # max |velocity ONNX - PyTorch|
    sample_tolerance: float = bounded(0.0, 2.0)  # max |sample ONNX - PyTorch| in [-1, 1] units
    seed: int = bounded(0, 2**63 - 1)


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    export_generator: ExportGeneratorParams
    train_dit: TrainDitParams  # its `sample` settings drive the sample parity check


def load_generator() -> tuple[DiT, list[str]]:
    config = read_json(require_file(paths.GENERATOR_CONFIG, "generator config"))
    class_names = config.pop("class_names")
    model = DiT(DiTConfig.from_dict(config)).eval()
    weights = require_file(paths.GENERATOR_WEIGHTS, "generator weights")
    model.load_state_dict(load_file(str(weights)))
    return model, class_names


def main() -> None:
    params = load_params(Params)
    config = params.export_generator
    if len(set(config.parity_batch_sizes)) < 2:
        raise PipelineError(
            "export_generator.parity_batch_sizes: give two sizes or more; one cannot show that "
            "the batch dimension is dynamic"
        )
    model, class_names = load_generator()
    with atomic_path(paths.GENERATOR_ONNX) as tmp:
        export_onnx(model, tmp, batch_size=2, opset=config.opset)
        onnx.checker.check_model(str(tmp), full_check=True)
    summary = classifier.summarize(onnx.load(str(paths.GENERATOR_ONNX)))
    log.info(
        "exported %s: inputs %s, %d nodes", paths.GENERATOR_ONNX, summary.inputs, summary.nodes
    )

    session = classifier.ort_session(paths.GENERATOR_ONNX, params.runtime.threads)
    velocity = {
        f"batch_{n}": velocity_difference(model, session, n, config.seed + n)
        for n in config.parity_batch_sizes
    }
    torch_images, onnx_images, sample_diff = sample_parity(
        model, session, len(class_names), params.train_dit.sample
    )
    save_grid(onnx_images, len(class_names), paths.PLOTS / "export_generator" / "onnx_samples.png")
    metrics = {
        "opset": summary.opset,
        "nodes": summary.nodes,
        "max_abs_velocity_diff": velocity,
        "sample_max_abs_diff": sample_diff,
        "sample_pixels_equal": float(np.mean(torch_images == onnx_images)),
    }
    log.info("parity: %s", metrics)
    write_json(paths.metrics("export_generator"), metrics)

    worst = max(velocity.values())
    if worst > config.velocity_tolerance or sample_diff > config.sample_tolerance:
        raise PipelineError(
            f"{paths.GENERATOR_ONNX}: ONNX differs from PyTorch (velocity {worst:.2e} > "
            f"{config.velocity_tolerance:.0e} or sample {sample_diff:.2e} > "
            f"{config.sample_tolerance:.0e}); see metrics/export_generator.json"
        )
    with stage_run("export_generator", as_dict(params)) as tracker:
        log_metrics(tracker, metrics)
        tracker.log_artifact(str(paths.PLOTS / "export_generator" / "onnx_samples.png"))


def velocity_difference(model: DiT, session: ort.InferenceSession, batch: int, seed: int) -> float:
    """max |v_onnx - v_torch| on random noisy images, times, labels and guidance scales."""
    g = torch.Generator().manual_seed(seed)
    c = model.config
    x = torch.randn(batch, c.in_channels, c.image_size, c.image_size, generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, c.num_classes + 1, (batch,), generator=g)
    scale = torch.rand(batch, generator=g) * 5
    with torch.no_grad():
        expected = model.forward_with_cfg(x, t, y, scale).numpy()
    got = session.run(
        None, {"x": x.numpy(), "t": t.numpy(), "y": y.numpy(), "guidance_scale": scale.numpy()}
    )[0]
    return float(np.abs(got - expected).max())


def sample_parity(
    model: DiT,
    session: ort.InferenceSession,
    num_classes: int,
    config: SampleConfig,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The same fixed-noise sample through PyTorch and through ONNX Runtime."""
    c = model.config
    noise = fixed_noise(
        num_classes * config.per_class, (3, c.image_size, c.image_size), config.seed
    )
    labels = class_labels(num_classes, config.per_class)
    torch_x = sample(
        cfg_velocity_fn(model, labels, config.guidance_scale), noise, config.steps, config.method
    )
    onnx_x = sample(
        onnx_velocity(session, labels, config.guidance_scale), noise, config.steps, config.method
    )
    return to_uint8(torch_x), to_uint8(onnx_x), float((torch_x - onnx_x).abs().max())


if __name__ == "__main__":
    run_stage(main)
