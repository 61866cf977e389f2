"""Stage `onnx_eval`: accuracy, per-class accuracy, confusion matrix and throughput with ORT."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.classifier.evaluation import (
    OnnxEvalMetrics,
    classification_metrics,
    write_confusion_rows,
)
from pipeline.data.images import ImageSet
from pipeline.files import write_json
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime.sessions import RuntimeParams, batched, open_session, predictor, to_input
from pipeline.runtime.timing import interleaved_throughput
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxEvalParams:
    throughput_batch_sizes: list[int] = bounded(1, 65_536)
    throughput_rounds: int = bounded(1, 1000)  # timed batches per size; the median is reported


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    onnx_eval: OnnxEvalParams


def main(params: Params) -> None:
    predict = predictor(open_session(paths.ONNX_MODEL, params.runtime.threads))

    metrics = {}
    sets = {"test": ImageSet.load(paths.CIFAR10_TEST), "perf": ImageSet.load(paths.CIFAR10_PERF)}
    for split, data in sets.items():
        predictions = batched(predict, data.images, params.runtime.batch_size).argmax(1)
        metrics[split] = classification_metrics(data.labels, predictions, data.class_names)
        write_confusion_rows(
            paths.plots("onnx_eval") / f"confusion_{split}.csv",
            data.labels,
            predictions,
            data.class_names,
        )
        result = metrics[split]
        log.info("%s: accuracy %.4f (%d/%d)", split, result.accuracy, result.correct, result.total)

    rounds = params.onnx_eval.throughput_rounds
    timing = {"threads": params.runtime.threads, "rounds": rounds, "images_per_s": {}}
    for batch_size in params.onnx_eval.throughput_batch_sizes:
        batch = to_input(sets["test"].images[:batch_size])
        run = {"onnx": lambda batch=batch: predict(batch)}
        rate = interleaved_throughput(run, len(batch), rounds)["onnx"]  # a set smaller than a batch
        timing["images_per_s"][f"batch_{batch_size}"] = round(rate, 1)
        log.info("throughput at batch %d: %.0f images/s", batch_size, rate)

    write_record(paths.metrics("onnx_eval"), OnnxEvalMetrics(**metrics))
    write_json(paths.timing("onnx_eval"), timing)
    with mlflow_run("onnx_eval", asdict(params)) as tracker:
        log_metrics(tracker, {split: asdict(result) for split, result in metrics.items()})
        log_metrics(tracker, timing["images_per_s"], prefix="images_per_s.")
        tracker.log_artifacts(str(paths.plots("onnx_eval")), "plots")


if __name__ == "__main__":
    run_stage(main, Params)
