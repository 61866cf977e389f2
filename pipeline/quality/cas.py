"""Classification Accuracy Score (Ravuri & Vinyals, 2019): the classifier recipe trained from
scratch on generated images only, tested on the real test images, beside the same recipe trained
on as many real training images. Samples that carry a class's backdrop but not its object teach
a classifier little that transfers to real images, however a judge scores them."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.classifier.resnet import ResNetConfig
from pipeline.classifier.training import ClassificationTask, ClassifierTrainParams, predict_torch
from pipeline.data.images import ImageSet
from pipeline.quality.statistics import Measurement, proportion
from pipeline.schema import bounded
from pipeline.training.loop import train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CasParams:
    """The `validate.cas` params."""

    samples_per_class: int = bounded(0, 100_000)  # and as many real images a class; 0: off
    epochs: int = bounded(1, 1000)
    width: int = bounded(1, 1024)  # the ResNet-8's, trained from scratch
    seed: int = bounded(0, 2**63 - 1)


@dataclass(frozen=True)
class ClassificationAccuracyScore:
    """`cas` in metrics/validate.json: test accuracy of the recipe trained on each source."""

    samples_per_class: int
    epochs: int
    generated: Measurement  # trained on samples only
    real: Measurement  # trained on as many real training images
    ratio: float  # generated / real: the share of what real images teach that samples teach
    generated_per_class: dict[str, Measurement]
    real_per_class: dict[str, Measurement]


def accuracy_after_training(
    train_set: ImageSet, test: ImageSet, recipe: ClassifierTrainParams, width: int
) -> tuple[Measurement, dict[str, Measurement]]:
    """Train the recipe from random weights on `train_set`, then its accuracy on `test`, overall
    and per class. Mirrored images are not averaged: one plain pass, as trained."""
    config = ResNetConfig(width=width, mirror_average=False, image_size=test.image_size,
                          num_classes=len(test.class_names))  # fmt: skip
    epoch = max(1, len(train_set.labels) // recipe.batch_size)  # steps
    watch = train_set.subset(np.arange(min(500, len(train_set.labels))))  # progress, not judged
    task = ClassificationTask(config, recipe, train_set, watch, None, epoch, "validate.cas")
    with tempfile.TemporaryDirectory(prefix="cas_") as tmp:
        trained = train(task, recipe, recipe.epochs * epoch, Path(tmp) / "checkpoint.pt", "cas")
    assert trained is not None  # one process: rank 0
    hits = predict_torch(trained.model, test.images).argmax(1) == test.labels
    per_class = {
        name: proportion(int(hits[test.labels == c].sum()), int((test.labels == c).sum()))
        for c, name in enumerate(test.class_names)
        if (test.labels == c).any()  # a tiny test set may lack a class
    }
    return proportion(int(hits.sum()), len(hits)), per_class


def real_training_images(train_set: ImageSet, per_class: int, seed: int) -> ImageSet:
    """`per_class` real training images of each class (all a class has, where it has fewer)."""
    rng = np.random.default_rng(seed)
    picks = [
        rng.permutation(np.flatnonzero(train_set.labels == c))[:per_class]
        for c in range(len(train_set.class_names))
    ]
    return train_set.subset(np.sort(np.concatenate(picks)))


def classification_accuracy_score(
    samples: ImageSet,
    real_train: ImageSet,
    test: ImageSet,
    recipe: ClassifierTrainParams,
    params: CasParams,
) -> ClassificationAccuracyScore:
    """The recipe (its epochs and seed from `params`) trained on the samples and on as many real
    training images a class, each tested on the real test images."""
    recipe = replace(recipe, epochs=params.epochs, seed=params.seed,
                     checkpoint_every=10_000_000)  # fmt: skip
    per_class = len(samples.labels) // len(samples.class_names)
    real = real_training_images(real_train, per_class, params.seed)
    generated, generated_per_class = accuracy_after_training(samples, test, recipe, params.width)
    baseline, baseline_per_class = accuracy_after_training(real, test, recipe, params.width)
    ratio = round(generated.value / baseline.value, 4) if baseline.value else 0.0
    log.info("CAS: %.4f trained on samples, %.4f on as many real images (%.2fx)",
             generated.value, baseline.value, ratio)  # fmt: skip
    return ClassificationAccuracyScore(per_class, params.epochs, generated, baseline, ratio,
                                       generated_per_class, baseline_per_class)  # fmt: skip
