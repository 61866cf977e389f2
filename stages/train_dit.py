"""Stage `train_dit`: a class-conditional DiT trained with flow matching on the pipeline's data.

With more than one process in `train_dit.distributed`, the stage runs itself under `torchrun`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.data.image_folders import DataParams, load_training_images
from pipeline.files import save_npz, write_csv, write_json
from pipeline.generator.distributed import DistributedParams, World, relaunch
from pipeline.generator.dit import DiTConfig
from pipeline.generator.training import TrainConfig, class_histogram, train
from pipeline.generator.weights import save_generator
from pipeline.params import as_dict, bounded, load_params
from pipeline.project import dvcfile, paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelParams:
    patch_size: int = bounded(1, 64)
    width: int = bounded(8, 4096)
    depth: int = bounded(1, 128)
    heads: int = bounded(1, 64)
    mlp_ratio: float = bounded(0.5, 16.0)
    stem_channels: int = bounded(0, 1024)  # 0: none; else a 3x3 convolution before patchify
    head_channels: int = bounded(0, 1024)  # 0: none; else a 3x3 convolution after unpatchify
    long_skips: bool  # U-ViT long skip connections between early and late blocks


@dataclass(frozen=True)
class TrainDitParams:
    data: DataParams
    model: ModelParams
    train: TrainConfig
    distributed: DistributedParams  # where a run happens, not what it computes


@dataclass(frozen=True)
class Params:
    train_dit: TrainDitParams


def main() -> None:
    params = load_params(Params)
    config = params.train_dit
    if relaunch(config.distributed, __spec__.name):
        return
    data = load_training_images(config.data)
    model_config = DiTConfig(
        image_size=config.data.image_size, num_classes=len(data.class_names), **asdict(config.model)
    )
    log.info("%d images of %d classes; %s", len(data.labels), len(data.class_names), model_config)
    # A checkpoint is resumed only by a run of the same code, data and params (the process
    # count aside: every process count trains the same steps).
    what = {key: value for key, value in as_dict(config).items() if key != "distributed"}
    inputs = dvcfile.inputs_digest("train_dit", {"train_dit": what})
    world, timeout = World.from_env(), config.distributed.timeout_s
    result = train(model_config, config.train, data, paths.DIT_CHECKPOINT, inputs, world, timeout)
    if result is None:  # not rank 0: the outputs are rank 0's to write
        return

    metrics, timing = result.metrics(), result.timing()
    save_generator(result.ema, data.class_names, paths.GENERATOR_WEIGHTS, paths.GENERATOR_CONFIG)
    summary = {"path": config.data.path, "images": len(data.labels)}
    write_json(paths.GENERATOR_TRAINING, {"params": what, "data": summary, "result": metrics})
    save_npz(paths.DRAWN_INDICES, indices=result.drawn)
    histogram = class_histogram(data.labels, result.drawn.reshape(-1), data.class_names)
    write_csv(paths.plots("train_dit") / "loss.csv", ["step", "loss"], enumerate(result.losses, 1))
    write_csv(
        paths.plots("train_dit") / "class_histogram.csv",
        ["class", "drawn", "in_data"],
        ((name, c["drawn"], c["in_data"]) for name, c in histogram.items()),
    )
    write_json(paths.metrics("train_dit"), metrics)
    write_json(paths.timing("train_dit"), timing)
    log.info("final loss %.4f after %d steps", metrics["final_loss"], metrics["steps"])
    with mlflow_run("train_dit", as_dict(params)) as tracker:
        log_metrics(tracker, metrics)
        log_metrics(tracker, {k: v for k, v in timing.items() if k != "resumed_from_step"})
        for step, loss in enumerate(result.losses, 1):
            if step % 50 == 0 or step == len(result.losses):
                tracker.log_metric("loss", loss, step=step)


if __name__ == "__main__":
    run_stage(main)
