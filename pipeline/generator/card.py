"""The generator's model card: what it is, what it was trained on and how, how good it is."""

from __future__ import annotations

import yaml

from pipeline.quality.report import interval


def as_yaml(data: dict) -> str:
    return f"```yaml\n{yaml.safe_dump(data, sort_keys=False).strip()}\n```"


def quality_tables(judged: dict) -> str:
    """Per-class accuracy and the guidance sweep, as markdown tables."""
    per_class = "\n".join(
        f"| {name} | {interval(value)} |"
        for name, value in judged["conditional_accuracy_per_class"].items()
    )
    sweep = "\n".join(
        f"| {row['solver']} | {row['steps']} | {row['guidance_scale']:g} | "
        f"{interval(row['conditional_accuracy'])} | {interval(row['frechet_distance'])} |"
        for row in judged["sweep"].values()
    )
    return (
        f"| class | conditional accuracy (95%) |\n|---|---|\n{per_class}\n\n"
        "Over guidance scales, both solvers at the same network evaluations (fewer samples):\n\n"
        "| solver | steps | guidance | conditional accuracy | Fréchet distance |\n"
        f"|---|---|---|---|---|\n{sweep}"
    )


def model_card(architecture: dict, training: dict, judged: dict, weights: str, onnx: str) -> str:
    """Markdown from the saved architecture, the training record and the judgement."""
    data, run = training["data"], training["result"]
    quality = (
        f"Conditional accuracy **{interval(judged['conditional_accuracy'])}** (95% interval; "
        f"the classifier takes that share of {judged['samples']} samples for their class), "
        f"Fréchet distance on the classifier's features **{interval(judged['frechet_distance'])}** "
        f"(real against real: {judged['frechet_distance_real_floor']:.3f}); "
        f"{judged['solver']}, {judged['steps']} steps, guidance {judged['guidance_scale']}."
        f"\n\n{quality_tables(judged)}"
        if judged.get("conditional_accuracy") is not None
        else f"Not judged: classes {judged['unjudged_classes']} have no classifier class."
    )
    return f"""# TinyDiT generator

A class-conditional Diffusion Transformer (adaLN-Zero blocks, fixed 2-D sin-cos positions, a
learned null class for classifier-free guidance) trained with rectified flow: noise at t=0, data
at t=1, the model predicts the velocity x1 - x0 along the straight path.

## Quality
{quality}

## Architecture
{as_yaml(architecture)}

{run["parameters"]:,} parameters. Weights: `{weights}` (EMA, safetensors); ONNX: `{onnx}`
(one guided velocity evaluation; the ODE loop runs outside the graph).

## Data
{data["images"]:,} images of {len(architecture["class_names"])} classes
({", ".join(architecture["class_names"])}) from `{data["path"]}`,
{architecture["image_size"]}x{architecture["image_size"]}, pixels scaled to [-1, 1].

## Training
{as_yaml(training["params"])}

Final loss {run["final_loss"]} after {run["steps"]} steps.

## Sampling
```bash
python -m pipeline.generator.sampling --class-name {architecture["class_names"][0]} \\
  --count 8 --steps {judged["steps"]} --solver {judged["solver"]} \\
  --guidance {judged["guidance_scale"]} --out samples/
```
"""
