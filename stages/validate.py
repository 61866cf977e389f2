"""Stage `validate`: every quality gate over what the stages recorded, the generator judged by
the classifier; exits non-zero naming each gate that fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.data.images import ImageSet
from pipeline.errors import PipelineError
from pipeline.files import read_json, require_file, write_csv, write_json, write_text
from pipeline.generator.card import model_card
from pipeline.generator.judge import Judge, JudgeParams, judge_generator
from pipeline.generator.sampling import SampleParams
from pipeline.params import as_dict, load_params
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.quality.gates import GateParams, evaluate
from pipeline.quality.report import validation_report
from pipeline.runtime.sessions import RuntimeParams

log = logging.getLogger(__name__)
UPSTREAM = ("keras_to_onnx", "onnx_eval", "onnx_to_torch", "export_generator", "quantize")


@dataclass(frozen=True)
class ValidateParams(JudgeParams):
    gates: GateParams


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    sample: SampleParams  # how the judged samples are drawn
    validate: ValidateParams


def main() -> None:
    params = load_params(Params)
    config = params.validate
    metrics = {
        stage: read_json(require_file(paths.metrics(stage), f"metrics of `{stage}`"))
        for stage in UPSTREAM
    }
    runtime = params.runtime
    test = ImageSet.load(paths.TEST_SET)
    judge = Judge(paths.GENERATOR_ONNX, paths.ONNX_MODEL, test, runtime.threads, runtime.batch_size)
    generator = judge_generator(judge, params.sample, config)
    gates = evaluate({**metrics, "validate": {"generator": generator}}, config.gates)
    failed = [gate.name for gate in gates if not gate.passed]
    write_json(
        paths.metrics("validate"),
        {
            "gates": {gate.name: gate.as_dict() for gate in gates},
            "passed": not failed,
            "generator": generator,
        },
    )
    columns = ["guidance_scale", "conditional_accuracy", "frechet_distance"]
    for solver in ("euler", "heun"):
        rows = [r for r in generator["sweep"].values() if r["solver"] == solver]
        values = ((r["guidance_scale"], *(r[c]["value"] for c in columns[1:])) for r in rows)
        write_csv(paths.plots("validate") / f"guidance_{solver}.csv", columns, values)
    write_text(
        paths.VALIDATION_REPORT, validation_report(gates, generator, metrics["onnx_eval"]["test"])
    )
    write_text(
        paths.MODEL_CARD,
        model_card(
            read_json(paths.GENERATOR_CONFIG), read_json(paths.GENERATOR_TRAINING), generator,
            str(paths.GENERATOR_WEIGHTS), str(paths.GENERATOR_ONNX),
        ),
    )  # fmt: skip
    with mlflow_run("validate", as_dict(params)) as tracker:
        log_metrics(tracker, {gate.name: gate.value for gate in gates}, prefix="gate.")
        log_metrics(tracker, generator, prefix="generator.")
        tracker.log_artifact(str(paths.VALIDATION_REPORT))
        tracker.log_artifact(str(paths.MODEL_CARD))
    for gate in gates:
        log.info("%s", gate)
    if failed:
        raise PipelineError(
            f"quality gates failed: {', '.join(failed)}; see {paths.VALIDATION_REPORT}"
        )


if __name__ == "__main__":
    run_stage(main)
