"""The model card: both classifiers and the generator, what they learnt from, how good they are."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from pipeline.classifier.resnet import SavedClassifier
from pipeline.generator.training import GeneratorRecord
from pipeline.generator.weights import GeneratorConfig
from pipeline.quality.judge import Judgement
from pipeline.quality.markdown import interval, table
from pipeline.quality.recorded import Recorded
from pipeline.quality.report import sweep_table


def as_yaml(record: Any) -> str:
    """A typed record (a dataclass) as a YAML block."""
    return f"```yaml\n{yaml.safe_dump(dataclasses.asdict(record), sort_keys=False).strip()}\n```"


def classifiers(recorded: Recorded, saved: SavedClassifier) -> str:
    """Both classifiers side by side, on the test images they were trained for."""
    trained, converted = recorded.train_classifier, recorded.quantize.converted
    variants = recorded.quantize.trained

    def perf(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    rows = [
        ("trained (`models/classifier.onnx`)", f"{trained.test.accuracy:.4f}",
         perf(trained.perf.accuracy if trained.perf else None),
         f"{variants['int8'].test_accuracy:.4f}", f"{variants['fp32'].bytes:,}"),
        ("converted MLPerf Tiny ResNet-8 (`models/resnet8.onnx`)",
         f"{recorded.onnx_eval.test.accuracy:.4f}", perf(recorded.onnx_eval.perf.accuracy),
         f"{converted['int8'].test_accuracy:.4f}", f"{converted['fp32'].bytes:,}"),
    ]  # fmt: skip
    header = ["classifier", "test accuracy", "perf subset", "int8 test accuracy", "bytes"]
    config = saved.config
    start = "the converted model" if trained.init == "converted" else "random weights"
    return (
        f"{table(header, rows)}\n\n"
        f"The trained classifier is a ResNet-8 of width {config.width} for {config.image_size}x"
        f"{config.image_size} images, started from {start}"
        f" and trained {trained.epochs} epochs ({trained.steps:,} steps); its EMA weights are "
        f"exported. Validation accuracy {trained.val_accuracy_ema:.4f} (EMA) and "
        f"{trained.val_accuracy_raw:.4f} (raw weights). "
        + ("It averages the features of the image and its mirror. " if config.mirror_average
           else "")
        + "Both take raw 0..255 float32 NHWC RGB images; the trained one outputs logits, the "
        "converted one probabilities (its metadata says which)."
    )  # fmt: skip


def held_out_words(judged: Judgement) -> str:
    """Which judge reports beside the trained classifier, and what it says."""
    held = judged.held_out
    if held is None:
        return "No classifier that took no part in making the generator knows these classes."
    return (
        f"Judged by `{held.judge}`, which took no part in training or tuning the generator: "
        f"**{interval(held.conditional_accuracy)}** (its accuracy on real test images: "
        f"{held.ceiling:.4f})."
    )


def fidelity_words(judged: Judgement) -> str:
    """Precision and recall overall, by the held-out judge where there is one."""
    held = judged.held_out
    measured = held.precision_recall if held is not None else None
    by = "the held-out judge's" if measured is not None else "the trained classifier's"
    measured = measured or judged.precision_recall
    if measured is None:
        return ""
    return (
        f" Precision {interval(measured.precision)} and recall {interval(measured.recall)} in "
        f"{by} features: fidelity and coverage apart (per class in "
        "`reports/validation.md`)."
    )


def cas_words(judged: Judgement) -> str:
    """The Classification Accuracy Score in a sentence."""
    cas = judged.cas
    if cas is None:
        return ""
    return (
        f" A classifier trained on {cas.samples_per_class} samples a class only reaches "
        f"{interval(cas.generated)} on the real test images, against {interval(cas.real)} "
        f"trained on as many real images: **{cas.ratio:.2f}×** (CAS)."
    )


def generator_quality(judged: Judgement) -> str:
    """The judgement in words, then per-class accuracy and the guidance sweep as tables."""
    per_class = table(
        ["class", "conditional accuracy (95%)"],
        ((name, interval(m)) for name, m in judged.conditional_accuracy_per_class.items()),
    )
    return (
        f"Conditional accuracy **{interval(judged.conditional_accuracy)}** (95% interval; "
        f"the trained classifier takes that share of {judged.samples} samples for their class), "
        f"Fréchet distance on the classifier's features **{interval(judged.frechet_distance)}** "
        f"(real against real: {judged.frechet_distance_real_floor:.3f}); "
        f"{judged.solver}, {judged.steps} steps, guidance {judged.guidance_scale}. "
        f"{held_out_words(judged)}{fidelity_words(judged)}{cas_words(judged)}\n\n"
        f"{per_class}\n\n"
        "Over guidance scales, both solvers at the same network evaluations (fewer samples):\n\n"
        f"{sweep_table(judged.sweep)}"
    )


def model_card(
    recorded: Recorded,
    classifier: SavedClassifier,
    generator: GeneratorConfig,
    record: GeneratorRecord,
    judged: Judgement,
) -> str:
    """Markdown from what the stages recorded and saved."""
    config, names = generator.config, generator.class_names
    return f"""# A classifier and a generator of {len(names)} classes

{", ".join(names)}: {record.data.images:,} training images of {config.image_size}x\
{config.image_size} pixels (`{record.data.path}`).

## Classifiers
{classifiers(recorded, classifier)}

## Generator: TinyDiT
A class-conditional Diffusion Transformer (adaLN-Zero blocks, fixed 2-D sin-cos positions, a
learned null class for classifier-free guidance) trained with rectified flow: noise at t=0, data
at t=1, the model predicts the velocity x1 - x0 along the straight path.

{generator_quality(judged)}

### Architecture
{as_yaml(config)}

{record.result.parameters:,} parameters. Weights: `models/dit/ema.safetensors` (EMA); ONNX:
`models/dit.onnx` (one guided velocity evaluation; the ODE loop runs outside the graph).

### Training
{as_yaml(record.train)}

Final loss {record.result.final_loss} after {record.result.steps} steps.

### Sampling
```bash
python -m pipeline.generator.sampling --class-name {names[0]} \\
  --count 8 --steps {judged.steps} --solver {judged.solver} \\
  --guidance {judged.guidance_scale} --out samples/
```
"""
