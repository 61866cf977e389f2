"""Stage `validate`: every quality gate over what the stages recorded, the generator judged by
the trained classifier; with `validate.enforce`, exits non-zero naming each gate that fails.
Its verdict is what `register` moves the registry's aliases by."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np

from pipeline.classifier.resnet import SavedClassifier
from pipeline.classifier.training import TrainClassifierParams
from pipeline.data.images import ImageSet
from pipeline.errors import PipelineError
from pipeline.files import write_csv, write_text
from pipeline.generator.sampling import SampleParams
from pipeline.generator.training import GeneratorRecord
from pipeline.generator.weights import GeneratorConfig
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.quality.card import model_card
from pipeline.quality.cas import CasParams, classification_accuracy_score
from pipeline.quality.gates import GateParams, ValidationMetrics, evaluate
from pipeline.quality.judge import Judge, JudgeParams, judge_generator
from pipeline.quality.recorded import Recorded
from pipeline.quality.report import validation_report
from pipeline.records import read_record, write_record
from pipeline.runtime.sessions import RuntimeParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateParams(JudgeParams):
    cas: CasParams  # samples from other seeds than the judged ones
    gates: GateParams
    # false: a failing gate is recorded and reported, and the stage still succeeds, so that an
    # experiment that fails its gates keeps its row in `dvc exp show`
    enforce: bool


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    sample: SampleParams  # how the judged samples are drawn
    train_classifier: TrainClassifierParams  # its recipe is the one CAS trains
    validate: ValidateParams


def main(params: Params) -> None:
    config, runtime = params.validate, params.runtime
    recorded = Recorded.load()
    test = ImageSet.load(paths.TEST_IMAGES)
    judge = Judge(paths.GENERATOR_ONNX, paths.CLASSIFIER_ONNX, test, runtime.threads,
                  runtime.batch_size, held_out=paths.ONNX_MODEL)  # fmt: skip
    judged = judge_generator(judge, params.sample, config)
    if config.cas.samples_per_class:
        samples = judge.samples(params.sample, config.cas.samples_per_class, config.cas.seed + 1)
        labels = np.repeat(np.arange(len(test.class_names)), config.cas.samples_per_class)
        cas = classification_accuracy_score(
            ImageSet(samples, labels, test.class_names), ImageSet.load(paths.TRAIN_IMAGES), test,
            params.train_classifier.train, config.cas,
        )  # fmt: skip
        judged = replace(judged, cas=cas)
    gates = evaluate(recorded, judged, config.gates)
    failing = [gate.name for gate in gates if not gate.passed]
    verdicts = {gate.name: gate.verdict for gate in gates}
    metrics = ValidationMetrics(verdicts, not failing, ", ".join(failing), judged)
    write_record(paths.metrics("validate"), metrics)
    columns = ["guidance_scale", "conditional_accuracy", "frechet_distance"]
    for solver in ("euler", "heun"):
        points = [p for p in judged.sweep.values() if p.solver == solver]
        rows = ((p.guidance_scale, p.conditional_accuracy.value, p.frechet_distance.value)
                for p in points)  # fmt: skip
        write_csv(paths.plots("validate") / f"guidance_{solver}.csv", columns, rows)
    report = validation_report(gates, judged, recorded.train_classifier.test)
    write_text(paths.VALIDATION_REPORT, report)
    saved = read_record(SavedClassifier, paths.CLASSIFIER_CONFIG, "the classifier's config")
    generator = read_record(GeneratorConfig, paths.GENERATOR_CONFIG, "the generator's config")
    record = read_record(GeneratorRecord, paths.GENERATOR_TRAINING, "the generator's record")
    write_text(paths.MODEL_CARD, model_card(recorded, saved, generator, record, judged))
    with mlflow_run("validate", asdict(params)) as tracker:
        log_metrics(tracker, {name: v.value for name, v in verdicts.items()}, prefix="gate.")
        log_metrics(tracker, asdict(judged), prefix="generator.")
        tracker.log_artifact(str(paths.VALIDATION_REPORT))
        tracker.log_artifact(str(paths.MODEL_CARD))
    for gate in gates:
        log.info("%s", gate)
    if failing and config.enforce:
        raise PipelineError(
            f"quality gates failed: {', '.join(failing)}; see {paths.VALIDATION_REPORT}"
        )
    if failing:
        log.warning("quality gates failed (recorded; validate.enforce is off): %s", failing)


if __name__ == "__main__":
    run_stage(main, Params)
