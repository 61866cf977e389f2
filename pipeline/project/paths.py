"""Every file the pipeline reads or writes, in one place (dvc.yaml lists the same paths), and
where the project is."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
REPORTS = Path("reports")
LOGS = Path("logs")

# The converted classifier's data: CIFAR-10 as its sources give it, and the MLPerf perf subset.
CIFAR10 = DATA / "cifar10"
CIFAR10_TRAIN = CIFAR10 / "train.npz"
CIFAR10_TEST = CIFAR10 / "test.npz"
CIFAR10_PERF = CIFAR10 / "perf.npz"
# The images both trainers learn from, as the `data` params select them.
IMAGES = DATA / "images"
TRAIN_IMAGES = IMAGES / "train.npz"
TEST_IMAGES = IMAGES / "test.npz"
PROVENANCE = REPORTS / "provenance.json"
PHOTOS = DATA / "raw"  # data.dataset folder: one's own photos, data/raw/<class>/<image>

KERAS_MODEL = MODELS / "resnet8.h5"
ONNX_MODEL = MODELS / "resnet8.onnx"
TORCH_MODEL = MODELS / "resnet8.pt2"
CONVERSION_LOG = LOGS / "conversion.log"

CLASSIFIER_DIR = MODELS / "classifier"
CLASSIFIER_WEIGHTS = CLASSIFIER_DIR / "ema.safetensors"
CLASSIFIER_CONFIG = CLASSIFIER_DIR / "config.json"
CLASSIFIER_DRAWN_INDICES = CLASSIFIER_DIR / "drawn_indices.npz"
CLASSIFIER_CHECKPOINT = Path("checkpoints") / "classifier" / "last.pt"
CLASSIFIER_ONNX = MODELS / "classifier.onnx"

GENERATOR_DIR = MODELS / "dit"
GENERATOR_WEIGHTS = GENERATOR_DIR / "ema.safetensors"
GENERATOR_CONFIG = GENERATOR_DIR / "config.json"
GENERATOR_TRAINING = GENERATOR_DIR / "training.json"
DRAWN_INDICES = GENERATOR_DIR / "drawn_indices.npz"
DIT_CHECKPOINT = Path("checkpoints") / "dit" / "last.pt"
DIT_GRIDS = PLOTS / "train_dit" / "progress"  # drawn along training
MODEL_CARD = REPORTS / "model_card.md"
VALIDATION_REPORT = REPORTS / "validation.md"
REGISTERED = REPORTS / "registered.json"  # what this store registered: git-ignored
GENERATOR_ONNX = MODELS / "dit.onnx"
QUANTIZED = MODELS / "quantized"


def variants(fp32: Path, stem: str) -> dict[str, Path]:
    """A model's file and its quantised copies, by precision."""
    return {"fp32": fp32, **{p: QUANTIZED / f"{stem}_{p}.onnx" for p in ("int8", "fp16")}}


CONVERTED_VARIANTS = variants(ONNX_MODEL, "resnet8")
CLASSIFIER_VARIANTS = variants(CLASSIFIER_ONNX, "classifier")
GENERATOR_VARIANTS = variants(GENERATOR_ONNX, "dit")

SAMPLE_GRID = PLOTS / "export_generator" / "samples.png"  # the labelled grid of generated samples

# Queued DVC experiments run in temporary copies of the project under this folder.
QUEUE_WORKSPACE = Path(".dvc") / "tmp" / "exps"


def metrics(stage: str) -> Path:
    return METRICS / f"{stage}.json"


def timing(stage: str) -> Path:
    """Timings live apart from quality metrics so reruns keep `dvc metrics diff` quiet."""
    return REPORTS / "timing" / f"{stage}.json"


def plots(stage: str) -> Path:
    return PLOTS / stage


def project_root(cwd: Path | None = None) -> Path:
    """The project folder, also from inside a temporary workspace of a queued DVC experiment."""
    cwd = (cwd or Path.cwd()).resolve()
    parts, marker = cwd.parts, QUEUE_WORKSPACE.parts
    for i in range(len(parts) - len(marker)):
        if parts[i : i + len(marker)] == marker:
            return Path(*parts[:i])
    return cwd
