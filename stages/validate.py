"""Stage `validate`: quality gates over every stage; exits non-zero naming the gates that fail."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from pipeline import classifier, gates, paths
from pipeline.console import run_stage
from pipeline.datasets import ImageSet
from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json, write_text
from pipeline.frechet import frechet_distance
from pipeline.onnx_sampler import sample_class
from pipeline.params import as_dict, bounded, load_params
from pipeline.runtime import RuntimeParams
from pipeline.tracking import log_metrics, stage_run
from stages.train_dit import TrainDitParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateParams:
    perf_accuracy_min: float = bounded(0.0, 1.0)  # MLPerf Tiny's quality target is 0.85
    conversion_agreement_min: float = bounded(0.0, 1.0)  # argmax agreement, Keras/ONNX/PyTorch
    conversion_max_abs_diff_max: float = bounded(0.0, 1.0)
    int8_accuracy_drop_max: float = bounded(-1.0, 1.0)  # test-set accuracy points lost to int8
    classifier_bytes_max: int = bounded(1, 10**10)
    classifier_int8_bytes_max: int = bounded(1, 10**10)
    generator_bytes_max: int = bounded(1, 10**11)
    generator_export_velocity_diff_max: float = bounded(0.0, 1.0)
    generator_int8_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    generator_fp16_velocity_error_max: float = bounded(0.0, 10.0)  # relative L2 vs fp32
    conditional_accuracy_min: float = bounded(0.0, 1.0)


@dataclass(frozen=True)
class ValidateParams:
    gates: GateParams
    samples_per_class: int = bounded(1, 10_000)  # generated per class, from fixed seeds
    seed: int = bounded(0, 2**63 - 1)
    guidance_sweep: list[float] = bounded(0.0, 100.0)  # reported (not gated) at these scales


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    validate: ValidateParams
    train_dit: TrainDitParams  # the sampler settings judged: method, steps, guidance scale


def main() -> None:
    params = load_params(Params)
    config = params.validate
    limits = config.gates
    evaluation = read_metrics("onnx_eval")
    keras = read_metrics("keras_to_onnx")["parity_vs_keras"]
    torch_parity = read_metrics("onnx_to_torch")["parity_vs_onnx"]
    quantized = read_metrics("quantize")
    export = read_metrics("export_generator")

    generator = judge_generator(params)
    checks = [
        gates.at_least(
            "classifier_perf_accuracy",
            evaluation["perf"]["accuracy"],
            limits.perf_accuracy_min,
            "ONNX top-1 on the perf subset",
        ),
        gates.at_least(
            "keras_onnx_agreement",
            keras["argmax_agreement"],
            limits.conversion_agreement_min,
            "Keras and ONNX pick the same class",
        ),
        gates.at_most(
            "keras_onnx_max_abs_diff",
            keras["max_abs_diff"],
            limits.conversion_max_abs_diff_max,
            "largest probability difference",
        ),
        gates.at_least(
            "onnx_torch_agreement",
            torch_parity["argmax_agreement"],
            limits.conversion_agreement_min,
            "ONNX and PyTorch pick the same class",
        ),
        gates.at_most(
            "onnx_torch_max_abs_diff",
            torch_parity["max_abs_diff"],
            limits.conversion_max_abs_diff_max,
            "largest probability difference",
        ),
        gates.at_most(
            "int8_accuracy_drop",
            quantized["classifier"]["int8"]["test_accuracy_drop"],
            limits.int8_accuracy_drop_max,
            "test accuracy lost to int8",
        ),
        gates.at_most(
            "classifier_bytes",
            paths.CLASSIFIER_VARIANTS["fp32"].stat().st_size,
            limits.classifier_bytes_max,
            "fp32 ONNX file size",
        ),
        gates.at_most(
            "classifier_int8_bytes",
            paths.CLASSIFIER_VARIANTS["int8"].stat().st_size,
            limits.classifier_int8_bytes_max,
            "int8 ONNX file size",
        ),
        gates.at_most(
            "generator_bytes",
            paths.GENERATOR_VARIANTS["fp32"].stat().st_size,
            limits.generator_bytes_max,
            "fp32 generator ONNX file size",
        ),
        gates.at_most(
            "generator_export_velocity_diff",
            max(export["max_abs_velocity_diff"].values()),
            limits.generator_export_velocity_diff_max,
            "ONNX vs PyTorch velocity",
        ),
        gates.at_most(
            "generator_int8_velocity_error",
            quantized["generator"]["int8"]["velocity_relative_l2_error"],
            limits.generator_int8_velocity_error_max,
            "relative L2 vs fp32",
        ),
        gates.at_most(
            "generator_fp16_velocity_error",
            quantized["generator"]["fp16"]["velocity_relative_l2_error"],
            limits.generator_fp16_velocity_error_max,
            "relative L2 vs fp32",
        ),
    ]
    if generator is not None:
        checks.append(
            gates.at_least(
                "generator_conditional_accuracy",
                generator["conditional_accuracy"],
                limits.conditional_accuracy_min,
                "samples the ResNet-8 classifies as their class",
            )
        )

    failed = [gate.name for gate in checks if not gate.passed]
    metrics = {
        "gates": {gate.name: gate.as_dict() for gate in checks},
        "passed": not failed,
        "generator": generator,
    }
    write_json(paths.metrics("validate"), metrics)
    write_text(paths.VALIDATION_REPORT, report(checks, generator, evaluation, params))
    with stage_run("validate", as_dict(params)) as tracker:
        log_metrics(tracker, {gate.name: gate.value for gate in checks}, prefix="gate.")
        if generator is not None:
            log_metrics(tracker, generator, prefix="generator.")
        tracker.log_artifact(str(paths.VALIDATION_REPORT))
    for gate in checks:
        log.info(
            "%-32s %-4s %.6g (%s %.6g)",
            gate.name,
            "ok" if gate.passed else "FAIL",
            gate.value,
            gate.rule,
            gate.threshold,
        )
    if failed:
        raise PipelineError(
            f"quality gates failed: {', '.join(failed)}; see {paths.VALIDATION_REPORT}"
        )


def read_metrics(stage: str) -> dict:
    path = paths.metrics(stage)
    if not path.is_file():
        raise PipelineError(f"{path}: not found; run the `{stage}` stage first (dvc repro)")
    return read_json(path)


def judge_generator(params: Params) -> dict | None:
    """Conditional accuracy and Fréchet distance of generated samples, by the ResNet-8."""
    config = params.validate
    names = read_json(paths.GENERATOR_CONFIG)["class_names"]
    test = ImageSet.load(paths.TEST_SET)
    if list(names) != list(test.class_names):
        log.warning("generator classes %s are not the classifier's; generator gates skipped", names)
        return None
    threads = params.runtime.threads
    generator = classifier.ort_session(paths.GENERATOR_ONNX, threads)
    predict = classifier.ort_predict(classifier.ort_session(paths.ONNX_MODEL, threads))
    features = classifier.ort_predict(classifier.feature_session(paths.ONNX_MODEL, threads))
    batch = params.runtime.batch_size
    image_size = test.images.shape[1]

    def samples_at(guidance: float) -> tuple[np.ndarray, np.ndarray]:
        sampler = replace(params.train_dit.sample, guidance_scale=guidance)
        images = [
            sample_class(
                generator,
                c,
                config.samples_per_class,
                replace(sampler, seed=config.seed + c),
                image_size,
            )
            for c in range(len(names))
        ]
        labels = np.repeat(np.arange(len(names)), config.samples_per_class)
        return np.concatenate(images), labels

    def accuracy(images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        hits = classifier.batched(predict, images, batch).argmax(1) == labels
        return float(hits.mean()), hits.reshape(len(names), -1).mean(axis=1)

    guidance = params.train_dit.sample.guidance_scale
    images, labels = samples_at(guidance)
    overall, per_class = accuracy(images, labels)
    log.info("conditional accuracy %.4f at guidance %g", overall, guidance)

    # Fréchet distance on ResNet-8 features; real-vs-real at the same count is the floor.
    count = len(images)
    rng = np.random.default_rng(config.seed)
    real = rng.permutation(len(test.labels))
    if 2 * count > len(real):
        raise PipelineError(
            f"validate.samples_per_class: {2 * count} real test images needed "
            f"for the Fréchet floor, only {len(real)} available"
        )
    real_a = classifier.batched(features, test.images[real[:count]], batch)
    real_b = classifier.batched(features, test.images[real[count : 2 * count]], batch)
    generated = classifier.batched(features, images, batch)

    sweep = {}
    for scale in config.guidance_sweep:
        sweep[f"guidance_{scale:g}"] = round(accuracy(*samples_at(scale))[0], 6)
        log.info("conditional accuracy %.4f at guidance %g", sweep[f"guidance_{scale:g}"], scale)
    return {
        "conditional_accuracy": round(overall, 6),
        "conditional_accuracy_per_class": {
            n: round(float(a), 6) for n, a in zip(names, per_class, strict=True)
        },
        "guidance_scale": guidance,
        "samples": count,
        "frechet_distance": round(frechet_distance(generated, real_a), 4),
        "frechet_distance_real_floor": round(frechet_distance(real_b, real_a), 4),
        "conditional_accuracy_by_guidance": sweep,
    }


def report(
    checks: list[gates.Gate], generator: dict | None, evaluation: dict, params: Params
) -> str:
    failed = [gate.name for gate in checks if not gate.passed]
    lines = [
        "# Validation report",
        "",
        f"**{'All gates pass' if not failed else 'Failing: ' + ', '.join(failed)}**",
        "",
        gates.markdown_table(checks),
        "",
    ]
    if generator is None:
        lines.append("Generator gates skipped: its classes are not the classifier's.")
        return "\n".join(lines) + "\n"
    sample = params.train_dit.sample
    lines += [
        "## Generator, judged by the ResNet-8",
        "",
        f"{generator['samples']} samples ({params.validate.samples_per_class} per class, fixed "
        f"seeds), {sample.method} with {sample.steps} steps, guidance {sample.guidance_scale}. "
        "The ceiling is the classifier's own accuracy on real test images of the class.",
        "",
        "| class | conditional accuracy | ceiling (real test images) |",
        "|---|---|---|",
    ]
    for name, value in generator["conditional_accuracy_per_class"].items():
        lines.append(f"| {name} | {value:.3f} | {evaluation['test']['per_class'][name]:.3f} |")
    lines += [
        f"| **all** | **{generator['conditional_accuracy']:.3f}** | "
        f"**{evaluation['test']['accuracy']:.3f}** |",
        "",
        "By guidance scale (not gated): "
        + ", ".join(
            f"{k.removeprefix('guidance_')}: {v:.3f}"
            for k, v in generator["conditional_accuracy_by_guidance"].items()
        ),
        "",
        f"Fréchet distance on ResNet-8 penultimate features (64-d), {generator['samples']} "
        f"samples vs as many real test images: **{generator['frechet_distance']:.3f}**; "
        "real vs real at the same count (the floor): "
        f"{generator['frechet_distance_real_floor']:.3f}. Not comparable with Inception FID: "
        "other features, other sample count.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_stage(main)
