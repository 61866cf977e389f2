"""The browser app's default sampler: the generator graph (fp32 or int8), Euler steps and time
shift that make images soonest while judged no worse than the pipeline's own sampling.

    python -m tools.app_sampling      # writes reports/app_sampling.json

Every candidate draws the same fixed noise. The choice is made by the trained classifier (the
pipeline's judge): a setting is eligible when it is no worse than the reference by that judge,
its conditional accuracy at least the reference's and its Fréchet distance at most the
reference's; of the eligible, the cheapest (steps x the graph's seconds a step of the app's
four images, measured side by side in the run) and, among equals, the most accurate. The chosen
setting and the reference are then reported by the held-out converted ResNet-8 on other seeds,
which took no part in the choice.
`python -m tools.web_models` gives the app the chosen setting.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.data.images import ImageSet
from pipeline.errors import run_main
from pipeline.files import file_digest
from pipeline.generator.graph import GeneratorInfo, random_inputs
from pipeline.generator.sampling import SampleParams
from pipeline.params import load_params
from pipeline.project import paths
from pipeline.quality.judge import Judge, held_out_judgement
from pipeline.quality.statistics import Measurement, bootstrap_frechet, proportion
from pipeline.records import write_record
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import RuntimeParams
from pipeline.runtime.timing import session_throughput

REPORT = paths.REPORTS / "app_sampling.json"
GRAPHS = {"fp32": paths.GENERATOR_ONNX, "int8": paths.GENERATOR_VARIANTS["int8"]}
CHOOSING_SEED, REPORTING_SEED = 0, 20_000  # the held-out figures come from other noise
APP_BATCH = 4  # the app's default batch: what a person waits for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    sample: SampleParams


@dataclass(frozen=True)
class Candidate:
    precision: str
    steps: int
    time_shift: float
    conditional_accuracy: Measurement  # by the trained classifier, which chooses
    frechet_distance: Measurement
    eligible: bool


@dataclass(frozen=True)
class Reported:
    precision: str
    steps: int
    time_shift: float
    held_out_accuracy: Measurement  # by the converted ResNet-8, which took no part
    held_out_ceiling: float


@dataclass(frozen=True)
class AppSampling:
    """reports/app_sampling.json: what the app samples with by default, and why."""

    graphs: dict[str, str]  # precision: sha256 of the graph judged; a stale report shows
    sample: SampleParams  # the pipeline's sampling; the candidates vary its steps and shift
    samples_per_class: int
    step_seconds: dict[str, float]  # precision: a step of APP_BATCH images, side by side
    reference: Candidate  # the pipeline's `sample` params, fp32
    candidates: list[Candidate]
    chosen: Candidate
    reported: list[Reported]  # the reference, then the chosen


def judge_for(graph: Path, runtime: RuntimeParams) -> Judge:
    test = ImageSet.load(paths.TEST_IMAGES)
    return Judge(graph, paths.CLASSIFIER_ONNX, test, runtime.threads, runtime.batch_size,
                 held_out=paths.ONNX_MODEL)  # fmt: skip


def candidate(
    judge: Judge, precision: str, sample: SampleParams, per_class: int, real: np.ndarray
) -> tuple[Candidate, np.ndarray]:
    """The trained judge's accuracy and Fréchet distance of one setting (not yet eligible)."""
    images = judge.samples(sample, per_class, CHOOSING_SEED)
    expected = np.repeat(np.arange(len(judge.classes())), per_class)
    hits = judge.predictions(images) == expected
    distance = bootstrap_frechet(judge.features(images), real, 200, CHOOSING_SEED)
    accuracy = proportion(int(hits.sum()), len(hits))
    log.info("%s, %d steps, shift %g: accuracy %.3f, Fréchet %.3f", precision, sample.steps,
             sample.time_shift, accuracy.value, distance.value)  # fmt: skip
    return Candidate(precision, sample.steps, sample.time_shift, accuracy, distance, False), images


def step_seconds(batch: int, rounds: int, threads: int) -> dict[str, float]:
    """Seconds a sampling step of `batch` images takes with each graph, measured side by side."""
    info = read_info(GeneratorInfo, GRAPHS["fp32"])
    inputs = random_inputs(info, batch, CHOOSING_SEED)
    rates = session_throughput(GRAPHS, lambda names: inputs, batch, rounds, threads)
    return {precision: round(batch / rate, 6) for precision, rate in rates.items()}


def seconds(row: Candidate, per_step: dict[str, float]) -> float:
    """What a setting costs: its steps x its graph's seconds a step."""
    return row.steps * per_step[row.precision]


def choose(rows: list[Candidate], reference: Candidate, per_step: dict[str, float]) -> Candidate:
    """The most accurate eligible row of the cheapest (by `seconds`) that has one; the
    reference where none is eligible."""
    for level in sorted({seconds(row, per_step) for row in rows}):
        group = [row for row in rows if row.eligible and seconds(row, per_step) == level]
        if group:
            return max(group, key=lambda row: row.conditional_accuracy.value)
    return reference


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 6, 8, 10, 12])
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--timing-rounds", type=int, default=50)
    args = parser.parse_args(argv)
    params = load_params(Params)
    judges = {name: judge_for(graph, params.runtime) for name, graph in GRAPHS.items()}
    classes = len(judges["fp32"].classes())
    real_images = judges["fp32"].real_pairs(classes * args.per_class, 0)[0].images
    real = judges["fp32"].features(real_images)

    reference, _ = candidate(judges["fp32"], "fp32", params.sample, args.per_class, real)
    rows = []
    for steps in sorted(args.steps):
        for precision in ("int8", "fp32"):
            for shift in args.shifts:
                at = replace(params.sample, steps=steps, time_shift=shift)
                row, _ = candidate(judges[precision], precision, at, args.per_class, real)
                eligible = (
                    row.conditional_accuracy.value >= reference.conditional_accuracy.value
                    and row.frechet_distance.value <= reference.frechet_distance.value
                )
                rows.append(replace(row, eligible=eligible))
    per_step = step_seconds(APP_BATCH, args.timing_rounds, params.runtime.threads)
    log.info("seconds a step of %d images: %s", APP_BATCH, per_step)
    chosen = choose(rows, reference, per_step)

    reported = []
    for row in (reference, chosen):
        judge = judges[row.precision]
        at = replace(params.sample, steps=row.steps, time_shift=row.time_shift)
        images = judge.samples(at, args.per_class, REPORTING_SEED)
        labels = np.repeat(np.arange(classes), args.per_class)
        held_out = held_out_judgement(judge, ImageSet(images, labels, judge.classes()))
        assert held_out is not None, "the converted ResNet-8 judges CIFAR-10's classes only"
        reported.append(Reported(row.precision, row.steps, row.time_shift,
                                 held_out.conditional_accuracy, held_out.ceiling))  # fmt: skip
    graphs = {precision: file_digest(path) for precision, path in GRAPHS.items()}
    report = AppSampling(graphs, params.sample, args.per_class, per_step, reference, rows, chosen,
                         reported)  # fmt: skip
    write_record(REPORT, report)
    log.info("chosen: %s", asdict(chosen))
    for row in reported:
        log.info("held out: %s %d steps shift %g: %.3f (%.3f–%.3f)", row.precision, row.steps,
                 row.time_shift, row.held_out_accuracy.value, row.held_out_accuracy.ci95_low,
                 row.held_out_accuracy.ci95_high)  # fmt: skip


if __name__ == "__main__":
    run_main(main)
