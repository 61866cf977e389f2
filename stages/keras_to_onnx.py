"""Stage `keras_to_onnx`: the pretrained Keras ResNet-8 to ONNX with tf2onnx, checked for parity."""

from __future__ import annotations

import dataclasses
import io
import logging
from dataclasses import dataclass

import onnx

from pipeline.classifier import convert
from pipeline.classifier.evaluation import KerasToOnnxMetrics, parity
from pipeline.classifier.graph import INPUT_NAME
from pipeline.data.images import ImageSet
from pipeline.errors import LOG_FORMAT
from pipeline.files import atomic_path, write_text
from pipeline.project import paths
from pipeline.project.registry import log_onnx_model
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime.models import summarize
from pipeline.runtime.sessions import batched, open_session, predictor, to_input
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KerasToOnnxParams:
    opset: int = bounded(13, 21)
    parity_images: int = bounded(1, 10_000)  # first N test images compared with Keras
    batch_size: int = bounded(1, 4096)


@dataclass(frozen=True)
class Params:
    keras_to_onnx: KerasToOnnxParams


def main(params: Params) -> None:
    config = params.keras_to_onnx
    # The conversion log is kept in memory and written only when the stage succeeds.
    conversion_log = io.StringIO()
    handler = logging.StreamHandler(conversion_log)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    logging.captureWarnings(True)  # converter warnings go to the conversion log too

    test = ImageSet.load(paths.CIFAR10_TEST)
    keras_model = convert.load_keras(paths.KERAS_MODEL)
    model = convert.keras_to_onnx(keras_model, config.opset, test.class_names)
    summary = summarize(model)
    log.info("inputs %s, outputs %s", summary.inputs, summary.outputs)
    log.info(
        "%d nodes, %d parameters (Keras: %d, batch-norm statistics folded), opset %d",
        summary.nodes,
        summary.parameters,
        keras_model.count_params(),
        summary.opset,
    )
    with atomic_path(paths.ONNX_MODEL) as tmp:
        onnx.save(model, tmp)

    images = test.images[: config.parity_images]
    keras_out = batched(lambda x: keras_model.predict(x, verbose=0), images, config.batch_size)
    onnx_out = batched(
        predictor(open_session(paths.ONNX_MODEL, threads=0)), images, config.batch_size
    )
    agreement = parity(keras_out, onnx_out)
    log.info("ONNX vs Keras on %d test images: %s", len(images), agreement)

    metrics = KerasToOnnxMetrics(
        nodes=summary.nodes,
        parameters=summary.parameters,
        keras_parameters=keras_model.count_params(),
        parity_vs_keras=agreement,
    )
    write_record(paths.metrics("keras_to_onnx"), metrics)
    write_text(paths.CONVERSION_LOG, conversion_log.getvalue())
    with mlflow_run("keras_to_onnx", dataclasses.asdict(params)) as tracker:
        log_metrics(tracker, dataclasses.asdict(metrics))
        tracker.log_dict(dataclasses.asdict(summary), "model_summary.json")
        tracker.log_artifact(str(paths.CONVERSION_LOG))
        log_onnx_model(paths.ONNX_MODEL, "resnet8", {INPUT_NAME: to_input(images[:2])})


if __name__ == "__main__":
    run_stage(main, Params)
