"""Classification quality: accuracy, per-class accuracy, and confusion-matrix rows for DVC plots."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from pipeline.files import atomic_open


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
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["actual", "predicted"])
        writer.writerows(
            (class_names[a], class_names[p]) for a, p in zip(labels, predictions, strict=True)
        )
