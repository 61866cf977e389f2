"""How good a classifier is: accuracy overall and per class, confusion rows for DVC plots, and
agreement between two forms of the same model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import DatasetError, ImageSet, resize_images
from pipeline.files import write_csv
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import batched, open_session, predictor
from pipeline.runtime.variants import ClassifierVariant


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy on a set of images, overall and per class."""

    accuracy: float
    correct: int
    total: int
    per_class: dict[str, float]  # recall of each true class


@dataclass(frozen=True)
class OnnxEvalMetrics:
    """metrics/onnx_eval.json: the converted classifier on the test set and the perf subset."""

    test: Accuracy
    perf: Accuracy


@dataclass(frozen=True)
class Parity:
    """How closely two forms of one model agree on the same images."""

    images: int
    max_abs_diff: float
    argmax_agreement: float


@dataclass(frozen=True)
class KerasToOnnxMetrics:
    """metrics/keras_to_onnx.json: the converted graph, and how closely it follows Keras."""

    nodes: int
    parameters: int
    keras_parameters: int  # more than the graph's: batch-norm statistics are folded away
    parity_vs_keras: Parity


@dataclass(frozen=True)
class OnnxToTorchMetrics:
    """metrics/onnx_to_torch.json: the PyTorch program, and how closely it follows ONNX."""

    parameters: int
    shapes: dict[str, list[int | str]]  # input and output, the batch dimension named
    parity_vs_onnx: Parity


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, class_names: tuple[str, ...]
) -> Accuracy:
    """Top-1 accuracy overall and per class (recall of each true class)."""
    matrix = confusion_matrix(labels, predictions, labels=range(len(class_names)))
    per_class = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    correct = int(np.trace(matrix))
    return Accuracy(
        accuracy=round(correct / len(labels), 6),
        correct=correct,
        total=len(labels),
        per_class={
            name: round(float(acc), 6) for name, acc in zip(class_names, per_class, strict=True)
        },
    )


def hits(classifier: Path, images: ImageSet, threads: int, batch_size: int) -> np.ndarray:
    """Whether an ONNX classifier takes each image for its label, at the classifier's own image
    size (resized as `download` resizes the data)."""
    resized = resize_images(images, read_info(ClassifierInfo, classifier).image_size)
    predict = predictor(open_session(classifier, threads))
    return batched(predict, resized.images, batch_size).argmax(1) == images.labels


def write_confusion_rows(
    path: Path, labels: np.ndarray, predictions: np.ndarray, class_names: tuple[str, ...]
) -> None:
    """One `actual,predicted` row per image: the input of DVC's `confusion` plot template."""
    rows = ((class_names[a], class_names[p]) for a, p in zip(labels, predictions, strict=True))
    write_csv(path, ["actual", "predicted"], rows)


def parity(reference: np.ndarray, candidate: np.ndarray) -> Parity:
    """How closely two models' outputs on the same images agree."""
    return Parity(
        images=len(reference),
        max_abs_diff=float(np.max(np.abs(reference - candidate))),
        argmax_agreement=float(np.mean(reference.argmax(1) == candidate.argmax(1))),
    )


def readable_sets(info: ClassifierInfo, sources: dict[str, Path]) -> dict[str, ImageSet]:
    """The image sets among `sources` that the classifier reads: its classes, at its image size.
    The first (the test set) must be one; the others (the perf subset) are kept where they fit."""
    sets = {}
    for split, path in sources.items():
        data = ImageSet.load(path)
        if data.class_names == info.class_names and data.image_size == info.image_size:
            sets[split] = data
        elif not sets:
            raise DatasetError(
                f"{path}: {len(data.class_names)} classes of {data.image_size}px images, but the "
                f"classifier reads {len(info.class_names)} classes of {info.image_size}px; rerun "
                "the stages before this one (dvc repro)"
            )
    return sets


def compare_variants(
    variants: dict[str, Path], sets: dict[str, ImageSet], threads: int, batch_size: int
) -> dict[str, ClassifierVariant]:
    """File size and accuracy on each set (`test`, and `perf` if given) of every variant, and
    the test accuracy each loses against the first (the reference)."""
    accuracy: dict[str, dict[str, float]] = {}
    for name, path in variants.items():
        predict = predictor(open_session(path, threads))
        accuracy[name] = {
            split: classification_metrics(
                data.labels, batched(predict, data.images, batch_size).argmax(1), data.class_names
            ).accuracy
            for split, data in sets.items()
        }
    reference = accuracy[next(iter(variants))]["test"]
    return {
        name: ClassifierVariant(
            bytes=variants[name].stat().st_size,
            test_accuracy=scores["test"],
            perf_accuracy=scores.get("perf"),
            test_accuracy_drop=round(reference - scores["test"], 6),
        )
        for name, scores in accuracy.items()
    }
