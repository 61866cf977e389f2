"""How good a classifier is: accuracy overall and per class, confusion rows for DVC plots, and
agreement between two forms of the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from pipeline.data.images import ImageSet
from pipeline.files import write_csv
from pipeline.runtime.sessions import batched, open_session, predictor


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, class_names: tuple[str, ...]
) -> dict:
    """Top-1 accuracy overall and per class (recall of each true class)."""
    matrix = confusion_matrix(labels, predictions, labels=range(len(class_names)))
    per_class = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    correct = int(np.trace(matrix))
    return {
        "accuracy": round(correct / len(labels), 6),
        "correct": correct,
        "total": len(labels),
        "per_class": {
            name: round(float(acc), 6) for name, acc in zip(class_names, per_class, strict=True)
        },
    }


def write_confusion_rows(
    path: Path, labels: np.ndarray, predictions: np.ndarray, class_names: tuple[str, ...]
) -> None:
    """One `actual,predicted` row per image: the input of DVC's `confusion` plot template."""
    rows = ((class_names[a], class_names[p]) for a, p in zip(labels, predictions, strict=True))
    write_csv(path, ["actual", "predicted"], rows)


def parity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """How closely two models' outputs on the same images agree."""
    return {
        "max_abs_diff": float(np.max(np.abs(reference - candidate))),
        "argmax_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
    }


def compare_variants(
    variants: dict[str, Path], sets: dict[str, ImageSet], threads: int, batch_size: int
) -> dict[str, dict]:
    """File size and accuracy on each set of every variant, and the test accuracy each loses
    against the first (the reference)."""
    results: dict[str, dict] = {}
    for name, path in variants.items():
        predict = predictor(open_session(path, threads))
        results[name] = {"bytes": path.stat().st_size}
        for split, data in sets.items():
            predicted = batched(predict, data.images, batch_size).argmax(1)
            accuracy = classification_metrics(data.labels, predicted, data.class_names)
            results[name][f"{split}_accuracy"] = accuracy["accuracy"]
    reference, *others = results
    for name in others:
        results[name]["test_accuracy_drop"] = round(
            results[reference]["test_accuracy"] - results[name]["test_accuracy"], 6
        )
    return results
