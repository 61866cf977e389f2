"""Stage `quantize`: int8 and fp16 variants of the classifier and the generator, measured."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline import classifier, paths, quantization
from pipeline.console import run_stage
from pipeline.datasets import ImageSet
from pipeline.evaluation import classification_metrics
from pipeline.files import read_json, write_json
from pipeline.params import as_dict, bounded, load_params
from pipeline.runtime import RuntimeParams
from pipeline.timing import interleaved_throughput
from pipeline.tracking import log_metrics, stage_run

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


def main() -> None:
    params = load_params(Params)
    config = params.quantize
    rng = np.random.default_rng(config.seed)
    train = ImageSet.load(paths.TRAIN_SET)
    calibration = train.images[
        rng.choice(len(train.labels), config.calibration_images, replace=False)
    ]
    quantization.quantize_classifier_int8(
        paths.ONNX_MODEL,
        paths.CLASSIFIER_VARIANTS["int8"],
        classifier.to_input(calibration),
        per_channel=config.per_channel,
    )
    quantization.convert_fp16(paths.ONNX_MODEL, paths.CLASSIFIER_VARIANTS["fp16"])
    quantization.quantize_dynamic_matmul(paths.GENERATOR_ONNX, paths.GENERATOR_VARIANTS["int8"])
    quantization.convert_fp16(paths.GENERATOR_ONNX, paths.GENERATOR_VARIANTS["fp16"])

    metrics = {"classifier": measure_classifiers(params), "generator": measure_generators(params)}
    timing = {
        "threads": params.runtime.threads,
        "classifier_images_per_s": throughput_classifiers(params),
        "generator_images_per_s": throughput_generators(params),
    }
    for family, rates in (
        ("classifier", timing["classifier_images_per_s"]),
        ("generator", timing["generator_images_per_s"]),
    ):
        timing[f"{family}_speedup_vs_fp32"] = {
            name: round(rate / rates["fp32"], 3) for name, rate in rates.items()
        }
    log.info("quality: %s", metrics)
    log.info("timing: %s", timing)
    write_json(paths.metrics("quantize"), metrics)
    write_json(paths.timing("quantize"), timing)
    with stage_run("quantize", as_dict(params)) as tracker:
        log_metrics(tracker, metrics)
        log_metrics(tracker, timing)


def measure_classifiers(params: Params) -> dict:
    """Size and accuracy of each classifier variant on the test set and the perf subset."""
    sets = {
        split: ImageSet.load(path)
        for split, path in (("test", paths.TEST_SET), ("perf", paths.PERF_SET))
    }
    results = {}
    for name, path in paths.CLASSIFIER_VARIANTS.items():
        predict = classifier.ort_predict(classifier.ort_session(path, params.runtime.threads))
        results[name] = {"bytes": path.stat().st_size}
        for split, data in sets.items():
            predicted = classifier.batched(predict, data.images, params.runtime.batch_size)
            accuracy = classification_metrics(data.labels, predicted.argmax(1), data.class_names)
            results[name][f"{split}_accuracy"] = accuracy["accuracy"]
    for name in ("int8", "fp16"):
        results[name]["test_accuracy_drop"] = round(
            results["fp32"]["test_accuracy"] - results[name]["test_accuracy"], 6
        )
    return results


def generator_inputs(session: ort.InferenceSession, batch: int, seed: int) -> dict:
    """Fixed noisy images, times, labels and guidance scales for the generator."""
    rng = np.random.default_rng(seed)
    channels, size = session.get_inputs()[0].shape[1], session.get_inputs()[0].shape[2]
    num_classes = len(read_json(paths.GENERATOR_CONFIG)["class_names"])
    return {
        "x": rng.standard_normal((batch, channels, size, size), dtype=np.float32),
        "t": rng.random(batch, dtype=np.float32),
        "y": rng.integers(0, num_classes, batch).astype(np.int64),
        "guidance_scale": np.full(batch, 2.0, dtype=np.float32),
    }


def measure_generators(params: Params) -> dict:
    """Size of each generator variant and its velocity error against fp32 on fixed inputs."""
    sessions = {
        name: classifier.ort_session(path, params.runtime.threads)
        for name, path in paths.GENERATOR_VARIANTS.items()
    }
    inputs = generator_inputs(
        sessions["fp32"], params.quantize.generator_batch_size, params.quantize.seed
    )
    reference = sessions["fp32"].run(None, inputs)[0]
    results = {}
    for name, session in sessions.items():
        velocity = session.run(None, inputs)[0]
        error = np.abs(velocity - reference)
        results[name] = {
            "bytes": paths.GENERATOR_VARIANTS[name].stat().st_size,
            "velocity_max_abs_error": float(error.max()),
            "velocity_relative_l2_error": float(
                np.linalg.norm(velocity - reference) / np.linalg.norm(reference)
            ),
        }
    return results


def throughput_classifiers(params: Params) -> dict[str, float]:
    batch = classifier.to_input(ImageSet.load(paths.TEST_SET).images[: params.runtime.batch_size])
    return _interleaved(
        paths.CLASSIFIER_VARIANTS, params, lambda session: {"input": batch}, len(batch)
    )


def throughput_generators(params: Params) -> dict[str, float]:
    batch = params.quantize.generator_batch_size
    return _interleaved(
        paths.GENERATOR_VARIANTS,
        params,
        lambda session: generator_inputs(session, batch, params.quantize.seed),
        batch,
    )


def _interleaved(
    models: dict[str, Path],
    params: Params,
    make_inputs: Callable[[ort.InferenceSession], dict],
    batch: int,
) -> dict:
    runs = {}
    for name, path in models.items():
        session = classifier.ort_session(path, params.runtime.threads)
        feed = make_inputs(session)
        runs[name] = lambda session=session, feed=feed: session.run(None, feed)
    rates = interleaved_throughput(runs, batch, params.quantize.throughput_rounds)
    return {name: round(rate, 1) for name, rate in rates.items()}


if __name__ == "__main__":
    run_stage(main)
