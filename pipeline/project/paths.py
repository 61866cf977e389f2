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

TRAIN_SET = DATA / "cifar10" / "train.npz"
TEST_SET = DATA / "cifar10" / "test.npz"
PERF_SET = DATA / "cifar10" / "perf.npz"
PROVENANCE = REPORTS / "provenance.json"

KERAS_MODEL = MODELS / "resnet8.h5"
ONNX_MODEL = MODELS / "resnet8.onnx"
TORCH_MODEL = MODELS / "resnet8.pt2"
CONVERSION_LOG = LOGS / "conversion.log"

GENERATOR_DIR = MODELS / "dit"
GENERATOR_WEIGHTS = GENERATOR_DIR / "ema.safetensors"
GENERATOR_CONFIG = GENERATOR_DIR / "config.json"
GENERATOR_TRAINING = GENERATOR_DIR / "training.json"
DRAWN_INDICES = GENERATOR_DIR / "drawn_indices.npz"
DIT_CHECKPOINT = Path("checkpoints") / "dit" / "last.pt"
MODEL_CARD = REPORTS / "model_card.md"
VALIDATION_REPORT = REPORTS / "validation.md"
GENERATOR_ONNX = MODELS / "dit.onnx"
QUANTIZED = MODELS / "quantized"
CLASSIFIER_VARIANTS = {
    "fp32": ONNX_MODEL,
    "int8": QUANTIZED / "resnet8_int8.onnx",
    "fp16": QUANTIZED / "resnet8_fp16.onnx",
}
GENERATOR_VARIANTS = {
    "fp32": GENERATOR_ONNX,
    "int8": QUANTIZED / "dit_int8.onnx",
    "fp16": QUANTIZED / "dit_fp16.onnx",
}

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
