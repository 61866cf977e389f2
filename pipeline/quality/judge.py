"""The generator judged by the classifier: does a sample of class c look like c (conditional
accuracy), do samples spread like real images (Fréchet distance on classifier features), and,
apart, do they look real (precision) and cover what real images show (recall)? The same samples
are judged again by a classifier that took no part in training or tuning the generator, where
one knows the classes: the converted MLPerf ResNet-8, for CIFAR-10's.

Everything runs from the ONNX files and the metadata they carry; nothing is downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from pipeline.classifier.evaluation import hits
from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import ImageSet, resize_images
from pipeline.errors import PipelineError
from pipeline.generator.flow import Solver
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.sampling import SampleParams, fixed_noise, generate, onnx_velocity
from pipeline.quality.cas import ClassificationAccuracyScore
from pipeline.quality.statistics import (
    Measurement,
    bootstrap_frechet,
    frechet_distance,
    precision_recall,
    proportion,
)
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import batched, feature_session, open_session, predictor
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepParams:
    """Accuracy against Fréchet distance over guidance scales, for both solvers."""

    guidance_scales: list[float] = bounded(0.0, 100.0)
    euler_steps: int = bounded(1, 1000)
    heun_steps: int = bounded(1, 1000)  # Heun evaluates twice a step: half Euler's for a match
    samples_per_class: int = bounded(1, 10_000)


@dataclass(frozen=True)
class JudgeParams:
    """How the generator is judged (the `validate` params, its gates aside)."""

    sweep: SweepParams  # reported and plotted, not gated
    samples_per_class: int = bounded(1, 10_000)  # generated per class, from fixed seeds
    seed: int = bounded(0, 2**63 - 1)
    bootstrap_rounds: int = bounded(10, 100_000)  # behind the Fréchet distance's interval


@dataclass(frozen=True)
class Judge:
    """The classifier that judges, and the real images it compares samples with."""

    generator: Path
    classifier: Path
    real: ImageSet  # the classifier's test set
    threads: int
    batch_size: int
    held_out: Path | None = None  # a classifier that took no part: it judges where it can

    def classes(self) -> tuple[str, ...]:
        """The classes both models know: the same, as both learnt from the same images."""
        generated = read_info(GeneratorInfo, self.generator).class_names
        judging = read_info(ClassifierInfo, self.classifier).class_names
        if generated != judging or judging != self.real.class_names:
            raise PipelineError(
                f"the generator's classes {list(generated)}, the classifier's {list(judging)} and "
                f"the test images' {list(self.real.class_names)} differ; both trainers learn from "
                "data/images: rerun the stages after download (dvc repro)"
            )
        return judging

    @cached_property
    def sessions(self) -> dict[str, ort.InferenceSession]:
        return {
            "generator": open_session(self.generator, self.threads),
            "classifier": open_session(self.classifier, self.threads),
            "features": feature_session(self.classifier, self.threads),
        }

    def samples(self, sample: SampleParams, per_class: int, seed: int) -> np.ndarray:
        """`per_class` uint8 images of every generator class, class by class, from fixed seeds."""
        info = read_info(GeneratorInfo, self.generator)
        session = self.sessions["generator"]
        images = []
        for c in range(len(info.class_names)):
            labels = torch.full((per_class,), c, dtype=torch.int64)
            velocity = onnx_velocity(session, labels, sample.guidance)
            noise = fixed_noise(per_class, info.sample_shape, seed + c)
            images.append(generate(velocity, noise, sample))
        return np.concatenate(images)

    def held_out_reads(self, names: tuple[str, ...]) -> bool:
        """Whether the held-out classifier knows exactly these classes."""
        if self.held_out is None:
            return False
        return read_info(ClassifierInfo, self.held_out).class_names == names

    def held_out_hits(self, images: ImageSet) -> np.ndarray:
        """Whether the held-out classifier takes each image for its label, at its own size."""
        assert self.held_out is not None
        return hits(self.held_out, images, self.threads, self.batch_size)

    def features(self, images: np.ndarray) -> np.ndarray:
        """The classifier's penultimate features of uint8 images."""
        return batched(predictor(self.sessions["features"]), images, self.batch_size)

    def held_out_features(self, images: ImageSet) -> np.ndarray:
        """The held-out classifier's penultimate features, at its own image size."""
        assert self.held_out is not None
        resized = resize_images(images, read_info(ClassifierInfo, self.held_out).image_size)
        session = feature_session(self.held_out, self.threads)
        return batched(predictor(session), resized.images, self.batch_size)

    def predictions(self, images: np.ndarray) -> np.ndarray:
        return batched(predictor(self.sessions["classifier"]), images, self.batch_size).argmax(1)

    def real_pairs(self, count: int, seed: int) -> tuple[ImageSet, ImageSet]:
        """Two disjoint random sets of real test images, `count` each where the test set holds
        twice as many, else half of it each (a small data set of its own photos)."""
        available = len(self.real.labels) // 2
        if count > available:
            log.warning("%d samples compared with %d real test images (all the test set holds)",
                        count, available)  # fmt: skip
            count = available
        order = np.random.default_rng(seed).permutation(len(self.real.labels))
        return self.real.subset(order[:count]), self.real.subset(order[count : 2 * count])


@dataclass(frozen=True)
class SweepPoint:
    """The judgement at one guidance scale and solver."""

    solver: Solver
    steps: int
    guidance_scale: float
    conditional_accuracy: Measurement
    frechet_distance: Measurement


@dataclass(frozen=True)
class PrecisionRecall:
    """Fidelity and coverage apart, in a judge's feature space (k = 3 nearest neighbours)."""

    precision: Measurement  # the share of samples inside the real images' manifold
    recall: Measurement  # the share of real images inside the samples' manifold


NEIGHBOURS = 3  # k of the k-nearest-neighbour manifolds


def fidelity_and_coverage(
    generated: np.ndarray,
    labels: np.ndarray,
    real: np.ndarray,
    real_labels: np.ndarray,
    names: tuple[str, ...],
) -> tuple[PrecisionRecall | None, dict[str, PrecisionRecall]]:
    """Precision and recall of all the samples against all the real images, and of each class's
    samples against the real images of that class; where either side has no more points than
    neighbours (a tiny data set), there is no manifold to measure: None, or no entry."""

    def measured(a: np.ndarray, b: np.ndarray) -> PrecisionRecall | None:
        if min(len(a), len(b)) <= NEIGHBOURS:
            return None
        return PrecisionRecall(*precision_recall(a, b, NEIGHBOURS))

    per_class = {
        name: measured(generated[labels == c], real[real_labels == c])
        for c, name in enumerate(names)
    }
    kept = {name: value for name, value in per_class.items() if value is not None}
    return measured(generated, real), kept


@dataclass(frozen=True)
class HeldOutJudgement:
    """The judged samples again, by a classifier that took no part in making or tuning them."""

    judge: str  # the model file
    ceiling: float  # its accuracy on the real test images, at its own image size
    conditional_accuracy: Measurement
    conditional_accuracy_per_class: dict[str, Measurement]
    # in the held-out judge's features; None in records from before they were measured
    precision_recall: PrecisionRecall | None = None
    precision_recall_per_class: dict[str, PrecisionRecall] | None = None


@dataclass(frozen=True)
class Judgement:
    """The generator as the classifier judges it (`generator` in metrics/validate.json)."""

    solver: Solver
    steps: int
    guidance_scale: float
    samples: int
    conditional_accuracy: Measurement
    conditional_accuracy_per_class: dict[str, Measurement]
    frechet_distance: Measurement
    frechet_distance_real_floor: float  # real against real at the same count
    sweep: dict[str, SweepPoint]  # <solver>_guidance_<scale>
    # None: no held-out classifier knows these classes (or the run predates the held-out judge)
    held_out: HeldOutJudgement | None = None
    # in the trained classifier's features; None in records from before they were measured
    precision_recall: PrecisionRecall | None = None
    precision_recall_per_class: dict[str, PrecisionRecall] | None = None
    # None: turned off (validate.cas.samples_per_class: 0), or a record from before it was measured
    cas: ClassificationAccuracyScore | None = None


def judge_generator(judge: Judge, sample: SampleParams, params: JudgeParams) -> Judgement:
    """Conditional accuracy (overall and per class, with 95% intervals), the Fréchet distance
    (with its bootstrap interval and the real-vs-real floor at the same count), and the sweep."""
    per_class, seed = params.samples_per_class, params.seed
    names = judge.classes()
    images = judge.samples(sample, per_class, seed)
    expected = np.repeat(np.arange(len(names)), per_class)
    hits = judge.predictions(images) == expected
    real_a, real_b = judge.real_pairs(len(images), seed)
    generated, real = judge.features(images), judge.features(real_a.images)
    accuracy = proportion(int(hits.sum()), len(hits))
    distance = bootstrap_frechet(generated, real, params.bootstrap_rounds, seed)
    fidelity, fidelity_per_class = fidelity_and_coverage(
        generated, expected, real, real_a.labels, names
    )
    samples = ImageSet(images, expected, names)
    log.info(
        "conditional accuracy %.4f, Fréchet distance %.3f (%s, %d steps, guidance %g)",
        accuracy.value, distance.value, sample.solver, sample.steps, sample.guidance_scale,
    )  # fmt: skip
    return Judgement(
        solver=sample.solver,
        steps=sample.steps,
        guidance_scale=sample.guidance_scale,
        samples=len(images),
        conditional_accuracy=accuracy,
        conditional_accuracy_per_class={
            name: proportion(int(row.sum()), per_class)
            for name, row in zip(names, hits.reshape(len(names), per_class), strict=True)
        },
        frechet_distance=distance,
        frechet_distance_real_floor=round(frechet_distance(judge.features(real_b.images), real), 4),
        sweep=guidance_sweep(judge, sample, params, len(names)),
        held_out=held_out_judgement(judge, samples, real_a),
        precision_recall=fidelity,
        precision_recall_per_class=fidelity_per_class,
    )


def held_out_judgement(
    judge: Judge, samples: ImageSet, real: ImageSet | None = None
) -> HeldOutJudgement | None:
    """Conditional accuracy by the held-out classifier, beside its accuracy on real images, and,
    given real images to compare with, precision and recall in its features."""
    names = samples.class_names
    if judge.held_out is None or not judge.held_out_reads(names):
        return None
    hits = judge.held_out_hits(samples).reshape(len(names), -1)
    ceiling = float(judge.held_out_hits(judge.real).mean())
    accuracy = proportion(int(hits.sum()), hits.size)
    fidelity, per_class = None, None
    if real is not None:
        fidelity, per_class = fidelity_and_coverage(
            judge.held_out_features(samples), samples.labels,
            judge.held_out_features(real), real.labels, names,
        )  # fmt: skip
    log.info("held-out judge %s: conditional accuracy %.4f (its ceiling %.4f)",
             judge.held_out, accuracy.value, ceiling)  # fmt: skip
    return HeldOutJudgement(
        judge=judge.held_out.as_posix(),
        ceiling=round(ceiling, 6),
        conditional_accuracy=accuracy,
        conditional_accuracy_per_class={
            name: proportion(int(row.sum()), len(row))
            for name, row in zip(names, hits, strict=True)
        },
        precision_recall=fidelity,
        precision_recall_per_class=per_class,
    )


def guidance_sweep(
    judge: Judge, sample: SampleParams, params: JudgeParams, classes: int
) -> dict[str, SweepPoint]:
    """Conditional accuracy and Fréchet distance, with their intervals, at each guidance scale
    for each solver at equal network evaluations; keyed `<solver>_guidance_<scale>`."""
    sweep, seed = params.sweep, params.seed
    expected = np.repeat(np.arange(classes), sweep.samples_per_class)
    real = judge.features(judge.real_pairs(len(expected), seed)[0].images)
    points = {}
    for solver, steps in (("euler", sweep.euler_steps), ("heun", sweep.heun_steps)):
        for scale in sweep.guidance_scales:
            at = replace(sample, solver=solver, steps=steps, guidance_scale=scale)
            images = judge.samples(at, sweep.samples_per_class, seed)
            hits = judge.predictions(images) == expected
            point = SweepPoint(
                solver=solver,
                steps=steps,
                guidance_scale=scale,
                conditional_accuracy=proportion(int(hits.sum()), len(hits)),
                frechet_distance=bootstrap_frechet(
                    judge.features(images), real, params.bootstrap_rounds, seed
                ),
            )
            points[f"{solver}_guidance_{scale:g}".replace(".", "p")] = point
            log.info("sweep: %s", point)
    return points
