"""Stage `quantize`: int8 and fp16 variants of the classifier and the generator, measured."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.classifier import evaluation
from pipeline.data.images import ImageSet
from pipeline.files import write_json
from pipeline.generator import graph
from pipeline.generator.graph import GeneratorInfo
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime import quantization
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import RuntimeParams, to_input
from pipeline.runtime.timing import session_throughput
from pipeline.runtime.variants import QuantizeMetrics
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizeParams:
    calibration_images: int = bounded(1, 50_000)  # training images the int8 ranges come from
    per_channel: bool  # per-output-channel weight scales for the int8 classifier
    seed: int = bounded(0, 2**63 - 1)
    throughput_rounds: int = bounded(1, 1000)
    generator_batch_size: int = bounded(2, 4096)


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    quantize: QuantizeParams


def main(params: Params) -> None:
    config, threads = params.quantize, params.runtime.threads
    train = ImageSet.load(paths.TRAIN_SET)
    pick = np.random.default_rng(config.seed).choice(
        len(train.labels), config.calibration_images, replace=False
    )
    classifiers, generators = paths.CLASSIFIER_VARIANTS, paths.GENERATOR_VARIANTS
    quantization.quantize_classifier_int8(
        paths.ONNX_MODEL, classifiers["int8"], to_input(train.images[pick]), config.per_channel
    )
    quantization.convert_fp16(paths.ONNX_MODEL, classifiers["fp16"])
    quantization.quantize_dynamic_matmul(paths.GENERATOR_ONNX, generators["int8"])
    quantization.convert_fp16(paths.GENERATOR_ONNX, generators["fp16"])

    sets = {"test": ImageSet.load(paths.TEST_SET), "perf": ImageSet.load(paths.PERF_SET)}
    batch = config.generator_batch_size
    metrics = QuantizeMetrics(
        classifier=evaluation.compare_variants(
            classifiers, sets, threads, params.runtime.batch_size
        ),
        generator=graph.compare_variants(generators, threads, batch, config.seed),
    )
    images = to_input(sets["test"].images[: params.runtime.batch_size])
    inputs = graph.random_inputs(read_info(GeneratorInfo, paths.GENERATOR_ONNX), batch, config.seed)
    timing: dict = {"threads": threads}
    for family, variants, feed, size in (
        ("classifier", classifiers, lambda names: {names[0]: images}, len(images)),
        ("generator", generators, lambda names: inputs, batch),
    ):
        rates = session_throughput(variants, feed, size, config.throughput_rounds, threads)
        timing[f"{family}_images_per_s"] = rates
        timing[f"{family}_speedup_vs_fp32"] = {
            n: round(r / rates["fp32"], 3) for n, r in rates.items()
        }
    log.info("quality: %s", metrics)
    log.info("timing: %s", timing)
    write_record(paths.metrics("quantize"), metrics)
    write_json(paths.timing("quantize"), timing)
    with mlflow_run("quantize", asdict(params)) as tracker:
        log_metrics(tracker, asdict(metrics))
        log_metrics(tracker, timing)


if __name__ == "__main__":
    run_stage(main, Params)
