"""Stage `train_dit`: a class-conditional DiT trained with flow matching on the pipeline's data."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import save_file

from pipeline import paths
from pipeline.console import run_stage
from pipeline.datasets import ImageSet
from pipeline.dit import DiTConfig
from pipeline.errors import PipelineError
from pipeline.files import atomic_open, atomic_path, save_npz, write_json, write_text
from pipeline.flow import cfg_velocity_fn
from pipeline.image_folders import ClassFrom, class_histogram, load_image_folder
from pipeline.params import as_dict, bounded, load_params
from pipeline.sampling import SampleConfig, class_labels, fixed_noise, generate, save_grid
from pipeline.tracking import log_metrics, stage_run
from pipeline.trainer import TrainConfig, train
from pipeline.training import NonFiniteLossError

log = logging.getLogger(__name__)
PLOTS = paths.PLOTS / "train_dit"


@dataclass(frozen=True)
class DataParams:
    source: Literal["cifar10", "imagefolder"]
    imagefolder: str  # with source imagefolder: one folder per class (or class_from prefix)
    class_from: ClassFrom
    classes: list[str] | None  # keep only these classes (all when null)
    image_size: int = bounded(8, 512)


@dataclass(frozen=True)
class ModelParams:
    patch_size: int = bounded(1, 64)
    width: int = bounded(8, 4096)
    depth: int = bounded(1, 128)
    heads: int = bounded(1, 64)
    mlp_ratio: float = bounded(0.5, 16.0)


@dataclass(frozen=True)
class TrainDitParams:
    data: DataParams
    model: ModelParams
    train: TrainConfig
    sample: SampleConfig


@dataclass(frozen=True)
class Params:
    train_dit: TrainDitParams


def main() -> None:
    params = load_params(Params)
    config = params.train_dit
    data = load_data(config.data)
    model_config = DiTConfig(
        image_size=config.data.image_size, num_classes=len(data.class_names), **asdict(config.model)
    )
    log.info(
        "%d images of %d classes; DiT %s", len(data.labels), len(data.class_names), model_config
    )

    try:
        result = train(model_config, config.train, data, paths.DIT_CHECKPOINT)
    except NonFiniteLossError as err:
        raise PipelineError(
            f"{err}; the last good checkpoint {paths.DIT_CHECKPOINT} is kept. Lower "
            "train_dit.train.lr, raise warmup_steps or set train_dit.train.grad_clip."
        ) from err
    parameters = sum(p.numel() for p in result.ema.parameters())

    with atomic_path(paths.GENERATOR_WEIGHTS) as tmp:
        save_file(result.ema.state_dict(), str(tmp))
    write_json(
        paths.GENERATOR_CONFIG, {**model_config.to_dict(), "class_names": list(data.class_names)}
    )
    save_npz(paths.DRAWN_INDICES, indices=result.drawn)

    noise = fixed_noise(
        model_config.num_classes * config.sample.per_class,
        (3, model_config.image_size, model_config.image_size),
        config.sample.seed,
    )
    labels = class_labels(model_config.num_classes, config.sample.per_class)
    velocity = cfg_velocity_fn(result.ema.cpu(), labels, config.sample.guidance_scale)
    save_grid(
        generate(velocity, noise, config.sample), model_config.num_classes, PLOTS / "samples.png"
    )

    histogram = class_histogram(data.labels, result.drawn.reshape(-1), data.class_names)
    write_rows(PLOTS / "loss.csv", ["step", "loss"], enumerate(result.losses, 1))
    write_rows(
        PLOTS / "class_histogram.csv",
        ["class", "drawn", "in_data"],
        ((name, c["drawn"], c["in_data"]) for name, c in histogram.items()),
    )
    tail = result.losses[-max(1, len(result.losses) // 20) :]  # last 5% of steps, less noisy
    metrics = {
        "final_loss": round(float(np.mean(tail)), 6),
        "steps": len(result.losses),
        "parameters": parameters,
    }
    timing = {
        "images_per_s": round(result.images_per_s, 1),
        "wall_s": round(result.wall_s, 1),
        "resumed_from_step": result.resumed_from,
        "device": result.device,
        "precision": result.precision,
        "threads": torch.get_num_threads(),
    }
    write_json(paths.metrics("train_dit"), metrics)
    write_json(paths.timing("train_dit"), timing)
    write_text(
        paths.MODEL_CARD, model_card(params, model_config, data, metrics, timing, parameters)
    )
    log.info(
        "final loss %.4f after %d steps; %.0f images/s",
        metrics["final_loss"],
        metrics["steps"],
        result.images_per_s,
    )

    with stage_run("train_dit", as_dict(params)) as tracker:
        log_metrics(tracker, metrics)
        log_metrics(tracker, {k: v for k, v in timing.items() if k != "resumed_from_step"})
        for step, loss in enumerate(result.losses, 1):
            if step % 50 == 0 or step == len(result.losses):
                tracker.log_metric("loss", loss, step=step)
        tracker.log_artifact(str(PLOTS / "samples.png"))
        tracker.log_artifact(str(paths.MODEL_CARD))


def load_data(config: DataParams) -> ImageSet:
    if config.source == "cifar10":
        data = ImageSet.load(paths.TRAIN_SET)
        if data.images.shape[1] != config.image_size:
            raise PipelineError(
                f"train_dit.data.image_size is {config.image_size} but the CIFAR-10 "
                f"arrays are {data.images.shape[1]}x{data.images.shape[2]}"
            )
        if config.classes is not None:
            keep = [data.class_names.index(c) for c in config.classes if c in data.class_names]
            if len(keep) != len(config.classes):
                raise PipelineError(
                    f"train_dit.data.classes {config.classes} are not all in {data.class_names}"
                )
            mask = np.isin(data.labels, keep)
            remap = {old: new for new, old in enumerate(sorted(keep))}
            data = ImageSet(
                data.images[mask],
                np.array([remap[v] for v in data.labels[mask]]),
                tuple(data.class_names[i] for i in sorted(keep)),
            )
        return data
    if not config.imagefolder:
        raise PipelineError(
            "train_dit.data.source is 'imagefolder' but train_dit.data.imagefolder "
            "is empty; set it to a folder of images"
        )
    return load_image_folder(
        Path(config.imagefolder),
        config.image_size,
        config.class_from,
        tuple(config.classes) if config.classes is not None else None,
    )


def write_rows(path: Path, header: list[str], rows: Iterable[Sequence]) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def model_card(
    params: Params,
    model_config: DiTConfig,
    data: ImageSet,
    metrics: dict,
    timing: dict,
    parameters: int,
) -> str:
    config = params.train_dit
    return f"""# TinyDiT generator

A class-conditional Diffusion Transformer (adaLN-Zero blocks, fixed 2-D sin-cos positions, a
learned null class for classifier-free guidance) trained with rectified flow: noise at t=0, data
at t=1, the model predicts the velocity x1 - x0 along the straight path.

## Architecture
{json.dumps(model_config.to_dict(), indent=2)}

{parameters:,} parameters. Weights: `{paths.GENERATOR_WEIGHTS}` (EMA, safetensors);
config: `{paths.GENERATOR_CONFIG}`.

## Data
{config.data.source}: {len(data.labels):,} images of {len(data.class_names)} classes
({", ".join(data.class_names)}), {config.data.image_size}x{config.data.image_size}, pixels scaled
to [-1, 1]{", class-balanced draws" if config.train.class_balanced else ""}. Sources and
checksums: `{paths.PROVENANCE}`.

## Training
{json.dumps(asdict(config.train), indent=2)}

Final loss {metrics["final_loss"]} after {metrics["steps"]} steps; {timing["images_per_s"]}
images/s on {timing["device"]} ({timing["precision"]}), {timing["wall_s"]} s.

## Sampling
```python
import torch
from safetensors.torch import load_file
from pipeline.dit import DiT, DiTConfig
from pipeline.files import read_json
from pipeline.flow import cfg_velocity_fn, sample

config = read_json("{paths.GENERATOR_CONFIG}")
config.pop("class_names")
model = DiT(DiTConfig.from_dict(config)).eval()
model.load_state_dict(load_file("{paths.GENERATOR_WEIGHTS}"))
labels = torch.tensor([3] * 8)
images = sample(cfg_velocity_fn(model, labels, {config.sample.guidance_scale}),
                torch.randn(8, 3, {config.data.image_size}, {config.data.image_size}),
                steps={config.sample.steps}, method="{config.sample.method}")  # in [-1, 1]
```
Or with ONNX Runtime, after `export_generator`:
`python -m pipeline.onnx_sampler --class-index 3 --steps {config.sample.steps} --guidance
{config.sample.guidance_scale} --out samples/`.
"""


if __name__ == "__main__":
    run_stage(main)
