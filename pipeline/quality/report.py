"""The validation report: every gate's verdict, and the generator's judgement explained."""

from __future__ import annotations

from pipeline.classifier.evaluation import Accuracy
from pipeline.quality.gates import Gate, markdown_table
from pipeline.quality.judge import Judgement, PrecisionRecall, SweepPoint
from pipeline.quality.markdown import interval, table, verdict_line


def sweep_table(sweep: dict[str, SweepPoint]) -> str:
    rows = (
        (p.solver, p.steps, f"{p.guidance_scale:g}", interval(p.conditional_accuracy),
         interval(p.frechet_distance))
        for p in sweep.values()
    )  # fmt: skip
    header = ["solver", "steps", "guidance", "conditional accuracy", "Fréchet distance"]
    return table(header, rows)


def held_out_section(judged: Judgement) -> str:
    """The same samples by the classifier that took no part in making or tuning them."""
    held = judged.held_out
    if held is None:
        return ("## The held-out judge\n\nNone: no classifier that took no part in training or "
                "tuning the generator knows these classes.\n")  # fmt: skip
    rows = [(name, interval(m)) for name, m in held.conditional_accuracy_per_class.items()]
    rows.append(("**all**", f"**{interval(held.conditional_accuracy)}**"))
    return (
        f"## The held-out judge: `{held.judge}`\n\nThe same samples, judged by a classifier that "
        "took no part in training the generator or choosing its settings, at its own image size. "
        f"Its accuracy on the real test images (its ceiling): {held.ceiling:.4f}.\n\n"
        f"{table(['class', 'conditional accuracy'], rows)}\n"
    )


def fidelity_section(judged: Judgement) -> str:
    """Precision and recall per class, in the trained classifier's features and, where there is
    one, the held-out judge's."""
    judges = [("trained classifier", judged.precision_recall, judged.precision_recall_per_class)]
    held = judged.held_out
    if held is not None and held.precision_recall is not None:
        judges.append(("held-out judge", held.precision_recall, held.precision_recall_per_class))
    if judged.precision_recall is None:
        return ""
    header = ["class"] + [f"{what}, {name}" for name, *_ in judges
                          for what in ("precision", "recall")]  # fmt: skip
    names = list(judged.conditional_accuracy_per_class)

    def cell(per_class: dict[str, PrecisionRecall] | None, name: str, what: str) -> str:
        measured = (per_class or {}).get(name)  # none where a class has too few images
        return interval(getattr(measured, what)) if measured else "—"

    rows = [
        [name] + [cell(per_class, name, what) for _, _, per_class in judges
                  for what in ("precision", "recall")]
        for name in names
    ]  # fmt: skip
    rows.append(["**all**"] + [f"**{interval(getattr(overall, what))}**" for _, overall, _ in judges
                               for what in ("precision", "recall")])  # fmt: skip
    return (
        "## Precision and recall\n\nFidelity and coverage apart (Kynkäänniemi et al., 2019): "
        "precision is the share of samples inside the real test images' manifold (each real "
        "image's ball reaching its 3rd nearest neighbour), recall the share of real images "
        "inside the samples' manifold; per class, a class's samples against real images of that "
        f"class. In each judge's penultimate features; 95% intervals (Wilson).\n\n"
        f"{table(header, rows)}\n"
    )


def cas_section(judged: Judgement) -> str:
    """Classification Accuracy Score per class: trained on samples, and on real images."""
    cas = judged.cas
    if cas is None:
        return ""
    rows = [(name, interval(cas.generated_per_class[name]), interval(cas.real_per_class[name]))
            for name in cas.generated_per_class]  # fmt: skip
    rows.append(("**all**", f"**{interval(cas.generated)}**", f"**{interval(cas.real)}**"))
    return (
        "## Classification Accuracy Score\n\nTest accuracy of the classifier recipe "
        f"(train_classifier's, from random weights, {cas.epochs} epochs, no mirror averaging) "
        f"trained on {cas.samples_per_class} samples a class only, beside the same recipe "
        f"trained on as many real training images: **{cas.ratio:.2f}×** (Ravuri & Vinyals, "
        "2019). Samples that carry a class's backdrop without its object teach little that "
        "holds on real images.\n\n"
        f"{table(['class', 'trained on samples', 'trained on real images'], rows)}\n"
    )


def validation_report(gates: list[Gate], judged: Judgement, ceiling: Accuracy) -> str:
    """Markdown: the gates, then conditional accuracy per class beside the judge's own accuracy
    on real test images of the class (its ceiling), then the Fréchet distance."""
    rows = [
        (name, interval(measurement), f"{ceiling.per_class[name]:.3f}")
        for name, measurement in judged.conditional_accuracy_per_class.items()
    ]
    rows.append(("**all**", f"**{interval(judged.conditional_accuracy)}**",
                 f"**{ceiling.accuracy:.3f}**"))  # fmt: skip
    per_class = len(judged.conditional_accuracy_per_class)
    lines = [
        "# Validation report",
        "",
        verdict_line([gate.name for gate in gates if not gate.passed]),
        "",
        markdown_table(gates),
        "",
        "## Generator, judged by the trained classifier",
        "",
        f"{judged.samples} samples ({judged.samples // per_class} per class, fixed seeds), "
        f"{judged.solver} with {judged.steps} steps, guidance {judged.guidance_scale}. Intervals "
        "are 95% (Wilson). The ceiling is the classifier's accuracy on real test images of the "
        "class.",
        "",
        table(["class", "conditional accuracy", "ceiling (real test images)"], rows),
        "",
        f"Fréchet distance on the classifier's penultimate features, {judged.samples} samples "
        "against as many real test images: "
        f"**{interval(judged.frechet_distance)}** (bootstrap); real against real at the same "
        f"count, the floor: {judged.frechet_distance_real_floor:.3f}. Not comparable with "
        "Inception FID: other features, other sample count.",
        "",
        held_out_section(judged),
        fidelity_section(judged),
        cas_section(judged),
        "### Guidance sweep (not gated)",
        "",
        sweep_table(judged.sweep),
    ]
    return "\n".join(lines) + "\n"
