"""Stage `validate`: every quality gate over what the stages recorded, the generator judged by
the classifier; exits non-zero naming each gate that fails."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.data.images import ImageSet
from pipeline.errors import PipelineError
from pipeline.files import write_csv, write_text
from pipeline.generator.sampling import SampleParams
from pipeline.generator.training import GeneratorRecord
from pipeline.generator.weights import GeneratorConfig
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.quality.card import model_card
from pipeline.quality.gates import GateParams, ValidationMetrics, evaluate
from pipeline.quality.judge import Judge, JudgeParams, judge_generator
from pipeline.quality.recorded import Recorded
from pipeline.quality.report import validation_report
from pipeline.records import read_record, write_record
from pipeline.runtime.sessions import RuntimeParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateParams(JudgeParams):
    gates: GateParams


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    sample: SampleParams  # how the judged samples are drawn
    validate: ValidateParams


def main(params: Params) -> None:
    config, runtime = params.validate, params.runtime
    recorded = Recorded.load()
    test = ImageSet.load(paths.TEST_SET)
    judge = Judge(paths.GENERATOR_ONNX, paths.ONNX_MODEL, test, runtime.threads, runtime.batch_size)
    judged = judge_generator(judge, params.sample, config)
    gates = evaluate(recorded, judged, config.gates)
    failing = [gate.name for gate in gates if not gate.passed]
    verdicts = {gate.name: gate.verdict for gate in gates}
    write_record(paths.metrics("validate"), ValidationMetrics(verdicts, not failing, judged))
    columns = ["guidance_scale", "conditional_accuracy", "frechet_distance"]
    for solver in ("euler", "heun"):
        points = [p for p in judged.sweep.values() if p.solver == solver]
        rows = ((p.guidance_scale, p.conditional_accuracy.value, p.frechet_distance.value)
                for p in points)  # fmt: skip
        write_csv(paths.plots("validate") / f"guidance_{solver}.csv", columns, rows)
    write_text(paths.VALIDATION_REPORT, validation_report(gates, judged, recorded.onnx_eval.test))
    saved = read_record(GeneratorConfig, paths.GENERATOR_CONFIG, "the generator (train_dit)")
    record = read_record(GeneratorRecord, paths.GENERATOR_TRAINING, "the generator (train_dit)")
    card = model_card(
        saved, record, judged, str(paths.GENERATOR_WEIGHTS), str(paths.GENERATOR_ONNX)
    )
    write_text(paths.MODEL_CARD, card)
    with mlflow_run("validate", asdict(params)) as tracker:
        log_metrics(tracker, {name: v.value for name, v in verdicts.items()}, prefix="gate.")
        log_metrics(tracker, asdict(judged), prefix="generator.")
        tracker.log_artifact(str(paths.VALIDATION_REPORT))
        tracker.log_artifact(str(paths.MODEL_CARD))
    for gate in gates:
        log.info("%s", gate)
    if failing:
        raise PipelineError(
            f"quality gates failed: {', '.join(failing)}; see {paths.VALIDATION_REPORT}"
        )


if __name__ == "__main__":
    run_stage(main, Params)
