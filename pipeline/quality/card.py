"""The model card: what the generator is, what it was trained on and how, how good it is."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from pipeline.generator.training import GeneratorRecord
from pipeline.generator.weights import GeneratorConfig
from pipeline.quality.judge import Judgement
from pipeline.quality.markdown import interval, table
from pipeline.quality.report import sweep_table


def as_yaml(record: Any) -> str:
    """A typed record (a dataclass) as a YAML block."""
    return f"```yaml\n{yaml.safe_dump(dataclasses.asdict(record), sort_keys=False).strip()}\n```"


def quality(judged: Judgement) -> str:
    """The judgement in words, then per-class accuracy and the guidance sweep as tables."""
    if judged.conditional_accuracy is None or judged.frechet_distance is None:
        return f"Not judged: classes {list(judged.unjudged_classes)} have no classifier class."
    per_class = table(
        ["class", "conditional accuracy (95%)"],
        ((name, interval(m)) for name, m in judged.conditional_accuracy_per_class.items()),
    )
    return (
        f"Conditional accuracy **{interval(judged.conditional_accuracy)}** (95% interval; "
        f"the classifier takes that share of {judged.samples} samples for their class), "
        f"Fréchet distance on the classifier's features **{interval(judged.frechet_distance)}** "
        f"(real against real: {judged.frechet_distance_real_floor:.3f}); "
        f"{judged.solver}, {judged.steps} steps, guidance {judged.guidance_scale}.\n\n"
        f"{per_class}\n\n"
        "Over guidance scales, both solvers at the same network evaluations (fewer samples):\n\n"
        f"{sweep_table(judged.sweep)}"
    )


def model_card(
    saved: GeneratorConfig, record: GeneratorRecord, judged: Judgement, weights: str, onnx: str
) -> str:
    """Markdown from the saved configuration, the training record and the judgement."""
    config, names = saved.config, saved.class_names
    return f"""# TinyDiT generator

A class-conditional Diffusion Transformer (adaLN-Zero blocks, fixed 2-D sin-cos positions, a
learned null class for classifier-free guidance) trained with rectified flow: noise at t=0, data
at t=1, the model predicts the velocity x1 - x0 along the straight path.

## Quality
{quality(judged)}

## Architecture
{as_yaml(config)}

{record.result.parameters:,} parameters. Weights: `{weights}` (EMA, safetensors); ONNX: `{onnx}`
(one guided velocity evaluation; the ODE loop runs outside the graph).

## Data
{record.data.images:,} images of {len(names)} classes ({", ".join(names)}) from
`{record.data.path}`, {config.image_size}x{config.image_size}, pixels scaled to [-1, 1].

## Training
{as_yaml(record.train)}

Final loss {record.result.final_loss} after {record.result.steps} steps.

## Sampling
```bash
python -m pipeline.generator.sampling --class-name {names[0]} \\
  --count 8 --steps {judged.steps} --solver {judged.solver} \\
  --guidance {judged.guidance_scale} --out samples/
```
"""
