"""Stage `quantize`: int8 and fp16 variants of both classifiers and the generator, measured."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.classifier import evaluation
from pipeline.classifier.graph import INPUT_NAME, ClassifierInfo
from pipeline.data.images import ImageSet
from pipeline.files import write_json
from pipeline.generator import graph
from pipeline.generator.graph import GeneratorInfo
from pipeline.project import paths
from pipeline.project.registry import log_onnx_model
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
    config, threads, batch = params.quantize, params.runtime.threads, params.runtime.batch_size
    classifiers = {  # each classifier, quantised with images of the data it learnt
        "resnet8": (paths.CONVERTED_VARIANTS, paths.CIFAR10_TRAIN, paths.CIFAR10_TEST),
        "classifier": (paths.CLASSIFIER_VARIANTS, paths.TRAIN_IMAGES, paths.TEST_IMAGES),
    }
    measured, examples = {}, {}
    for name, (variants, train_path, test_path) in classifiers.items():
        train = ImageSet.load(train_path)
        pick = np.random.default_rng(config.seed).choice(
            len(train.labels), min(config.calibration_images, len(train.labels)), replace=False
        )
        quantization.quantize_classifier(variants, to_input(train.images[pick]), config.per_channel)
        info = read_info(ClassifierInfo, variants["fp32"])
        sets = evaluation.readable_sets(info, {"test": test_path, "perf": paths.CIFAR10_PERF})
        measured[name] = evaluation.compare_variants(variants, sets, threads, batch)
        examples[name] = {INPUT_NAME: to_input(sets["test"].images[:2])}
    generators = paths.GENERATOR_VARIANTS
    quantization.quantize_generator(generators)
    info = read_info(GeneratorInfo, generators["fp32"])
    metrics = QuantizeMetrics(
        converted=measured["resnet8"],
        trained=measured["classifier"],
        generator=graph.compare_variants(generators, threads, config.generator_batch_size,
                                         config.seed),
    )  # fmt: skip
    images = to_input(ImageSet.load(paths.CIFAR10_TEST).images[:batch])
    inputs = graph.random_inputs(info, config.generator_batch_size, config.seed)
    timing: dict = {"threads": threads}
    for family, variants, feed, size in (
        ("classifier", paths.CONVERTED_VARIANTS, lambda names: {names[0]: images}, len(images)),
        ("generator", generators, lambda names: inputs, config.generator_batch_size),
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
        for family, (variants, *_) in classifiers.items():
            for precision in ("int8", "fp16"):
                log_onnx_model(variants[precision], f"{family}-{precision}", examples[family])
        for precision in ("int8", "fp16"):
            log_onnx_model(generators[precision], f"generator-{precision}",
                           {name: value[:2] for name, value in inputs.items()})  # fmt: skip


if __name__ == "__main__":
    run_stage(main, Params)
