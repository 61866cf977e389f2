"""The validation report: every gate's verdict, and the generator's judgement explained."""

from __future__ import annotations

from pipeline.classifier.evaluation import Accuracy
from pipeline.quality.gates import Gate, markdown_table
from pipeline.quality.judge import Judgement, SweepPoint
from pipeline.quality.markdown import interval, table, verdict_line


def sweep_table(sweep: dict[str, SweepPoint]) -> str:
    rows = (
        (p.solver, p.steps, f"{p.guidance_scale:g}", interval(p.conditional_accuracy),
         interval(p.frechet_distance))
        for p in sweep.values()
    )  # fmt: skip
    header = ["solver", "steps", "guidance", "conditional accuracy", "Fréchet distance"]
    return table(header, rows)


def validation_report(gates: list[Gate], judged: Judgement, ceiling: Accuracy) -> str:
    """Markdown: the gates, then conditional accuracy per class beside the classifier's own
    accuracy on real images of the class (its ceiling), then the Fréchet distance."""
    failing = [gate.name for gate in gates if not gate.passed]
    lines = [
        "# Validation report",
        "",
        verdict_line(failing),
        "",
        markdown_table(gates),
        "",
        "## Generator, judged by the classifier",
        "",
    ]
    if judged.conditional_accuracy is None or judged.frechet_distance is None:
        lines.append(
            f"Not judged: generator classes {list(judged.unjudged_classes)} have no class of the "
            "classifier. Map each to one in `validate.class_map`."
        )
        return "\n".join(lines) + "\n"
    judged_names = list(ceiling.per_class)
    rows = [
        (name, judged_names[judged.judged_as[name]], interval(measurement),
         f"{ceiling.per_class[judged_names[judged.judged_as[name]]]:.3f}")
        for name, measurement in judged.conditional_accuracy_per_class.items()
    ]  # fmt: skip
    rows.append(
        ("**all**", "", f"**{interval(judged.conditional_accuracy)}**",
         f"**{ceiling.accuracy:.3f}**")
    )  # fmt: skip
    lines += [
        f"{judged.samples} samples ({judged.samples // len(judged.judged_as)} per class, fixed "
        f"seeds), {judged.solver} with {judged.steps} steps, guidance {judged.guidance_scale}. "
        "Intervals are 95% (Wilson). The ceiling is the classifier's accuracy on real test images "
        "of the class.",
        "",
        table(["class", "judged as", "conditional accuracy", "ceiling (real test images)"], rows),
        "",
        f"Fréchet distance on the classifier's penultimate features, {judged.samples} samples "
        "against as many real test images of the same classes: "
        f"**{interval(judged.frechet_distance)}** (bootstrap); real against real at the same "
        f"count, the floor: {judged.frechet_distance_real_floor:.3f}. Not comparable with "
        "Inception FID: other features, other sample count.",
    ]
    if judged.sweep:
        lines += ["", "### Guidance sweep (not gated)", "", sweep_table(judged.sweep)]
    return "\n".join(lines) + "\n"
