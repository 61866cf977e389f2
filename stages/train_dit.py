"""Stage `train_dit`: a class-conditional DiT trained with flow matching on the pipeline's data.

With more than one process in `train_dit.distributed`, the stage runs itself under `torchrun`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from PIL import Image

from pipeline.data.images import ImageSet
from pipeline.files import write_csv
from pipeline.generator.alignment import AlignmentParams, generator_of, load_teacher
from pipeline.generator.dit import DiTArchitecture, DiTConfig
from pipeline.generator.progress import Progress, ProgressParams
from pipeline.generator.training import (
    DiTTrainParams,
    FlowMatchingTask,
    GeneratorRecord,
    GeneratorTrainingMetrics,
    TrainingData,
)
from pipeline.generator.weights import save_generator
from pipeline.project import dvcfile, paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.training.checkpoint import run_identity
from pipeline.training.distributed import DistributedParams, World, relaunch
from pipeline.training.loop import train
from pipeline.training.sampler import save_draws

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainDitParams:
    model: DiTArchitecture
    train: DiTTrainParams
    progress: ProgressParams
    repa: AlignmentParams
    distributed: DistributedParams  # where a run happens, not what it computes


@dataclass(frozen=True)
class Params:
    train_dit: TrainDitParams


def main(params: Params) -> None:
    config = params.train_dit
    if relaunch(config.distributed, __spec__.name):
        return
    data = ImageSet.load(paths.TRAIN_IMAGES)  # the images the `data` params select
    model = DiTConfig.of(config.model, data.image_size, len(data.class_names))
    log.info("%d images of %d classes; %s", len(data.labels), len(data.class_names), model)
    # A checkpoint is resumed only by a run of the same code, data and params (any process count)
    what = {key: value for key, value in asdict(config).items() if key != "distributed"}
    identity = run_identity(dvcfile.inputs_digest("train_dit", {"train_dit": what}), data)
    progress = Progress(config.progress, data.class_names, paths.DIT_GRIDS, paths.ONNX_MODEL)
    teacher = load_teacher(config.repa, paths.CLASSIFIER_DIR, data.class_names)  # None: off
    task = FlowMatchingTask(model, config.train, data, progress, config.progress.every, teacher,
                            config.repa)  # fmt: skip
    world, steps = World.from_env(), config.train.steps
    trained = train(task, config.train, steps, paths.DIT_CHECKPOINT, identity, world,
                    config.distributed.timeout_s)  # fmt: skip
    if trained is None:  # not rank 0: the outputs are rank 0's to write
        return

    dit = generator_of(trained.model)  # without REPA's projector
    metrics = GeneratorTrainingMetrics.of(trained.history["loss"], dit)
    save_generator(dit, data.class_names, paths.GENERATOR_WEIGHTS, paths.GENERATOR_CONFIG)
    summary = TrainingData(paths.TRAIN_IMAGES.as_posix(), len(data.labels))
    record = GeneratorRecord(summary, config.model, config.train, metrics)
    write_record(paths.GENERATOR_TRAINING, record)
    plots = paths.plots("train_dit")
    save_draws(trained.drawn, data.labels, data.class_names, paths.DRAWN_INDICES,
               plots / "class_histogram.csv")  # fmt: skip
    losses = trained.history["loss"]
    write_csv(plots / "loss.csv", ["step", "loss"], enumerate(losses, 1))
    scored, shown = progress.record(trained.history, plots / "progress.csv")
    write_record(paths.metrics("train_dit"), metrics)
    write_record(paths.timing("train_dit"), timing := trained.timing)
    log.info("final loss %.4f after %d steps; grids took %.1f s of %.1f s", metrics.final_loss,
             metrics.steps, timing.evaluation_s, timing.wall_s)  # fmt: skip
    with mlflow_run("train_dit", asdict(params)) as tracker:
        log_metrics(tracker, asdict(metrics))
        log_metrics(tracker, asdict(timing))
        for step, loss in enumerate(losses, 1):
            if step % 50 == 0 or step == len(losses):
                tracker.log_metric("loss", loss, step=step)
        for step, score in scored:
            tracker.log_metric("progress.held_out_accuracy", score, step=step)
        for step, grid in shown:
            tracker.log_image(Image.open(grid), key="progress", step=step)


if __name__ == "__main__":
    run_stage(main, Params)
