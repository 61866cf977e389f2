"""Stage `keras_to_onnx`: the pretrained Keras ResNet-8 to ONNX with tf2onnx, checked for parity."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import onnx

from pipeline import classifier, paths
from pipeline.console import FORMAT, run_stage
from pipeline.datasets import ImageSet
from pipeline.files import atomic_path, write_json
from pipeline.params import as_dict, bounded, load_params
from pipeline.tracking import log_metrics, stage_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KerasToOnnxParams:
    opset: int = bounded(13, 21)
    parity_images: int = bounded(1, 10_000)  # first N test images compared with Keras
    batch_size: int = bounded(1, 4096)


@dataclass(frozen=True)
class Params:
    keras_to_onnx: KerasToOnnxParams


def main() -> None:
    params = load_params(Params)
    config = params.keras_to_onnx
    paths.CONVERSION_LOG.parent.mkdir(parents=True, exist_ok=True)
    conversion_log = logging.FileHandler(paths.CONVERSION_LOG, mode="w")
    conversion_log.setFormatter(logging.Formatter(FORMAT))
    logging.getLogger().addHandler(conversion_log)
    logging.captureWarnings(True)  # converter warnings go to the conversion log too

    keras_model = classifier.load_keras(paths.KERAS_MODEL)
    model = classifier.keras_to_onnx(keras_model, config.opset)
    summary = classifier.summarize(model)
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

    images = ImageSet.load(paths.TEST_SET).images[: config.parity_images]
    keras_out = classifier.batched(
        lambda x: keras_model.predict(x, verbose=0), images, config.batch_size
    )
    session = classifier.ort_session(paths.ONNX_MODEL, threads=0)  # 0: ORT picks
    onnx_out = classifier.batched(classifier.ort_predict(session), images, config.batch_size)
    parity = classifier.parity(keras_out, onnx_out)
    log.info("ONNX vs Keras on %d test images: %s", len(images), parity)

    metrics = {
        "nodes": summary.nodes,
        "parameters": summary.parameters,
        "keras_parameters": keras_model.count_params(),
        "parity_vs_keras": {"images": len(images), **parity},
    }
    write_json(paths.metrics("keras_to_onnx"), metrics)
    with stage_run("keras_to_onnx", as_dict(params)) as tracker:
        log_metrics(tracker, metrics)
        tracker.log_dict(dataclasses.asdict(summary), "model_summary.json")
        conversion_log.flush()
        tracker.log_artifact(str(paths.CONVERSION_LOG))


if __name__ == "__main__":
    run_stage(main)
