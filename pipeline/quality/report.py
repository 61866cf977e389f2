"""The validation report: every gate's verdict, and the generator's judgement explained."""

from __future__ import annotations

from pipeline.quality.gates import Gate, markdown_table


def interval(measurement: dict, digits: int = 3) -> str:
    """0.512 (0.481–0.543)"""
    value, low, high = (measurement[k] for k in ("value", "ci95_low", "ci95_high"))
    return f"{value:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def validation_report(gates: list[Gate], generator: dict, ceiling: dict) -> str:
    """Markdown: the gates, then conditional accuracy per class beside the classifier's own
    accuracy on real images of the class (its ceiling), then the Fréchet distance."""
    failed = [gate.name for gate in gates if not gate.passed]
    lines = [
        "# Validation report",
        "",
        f"**{'All gates pass' if not failed else 'Failing: ' + ', '.join(failed)}**",
        "",
        markdown_table(gates),
        "",
        "## Generator, judged by the classifier",
        "",
    ]
    if generator.get("conditional_accuracy") is None:
        lines.append(
            f"Not judged: generator classes {generator['unjudged_classes']} have no class of the "
            "classifier. Map each to one in `validate.class_map`."
        )
        return "\n".join(lines) + "\n"
    lines += [
        f"{generator['samples']} samples ({generator['samples'] // len(generator['judged_as'])} "
        f"per class, fixed seeds), {generator['solver']} with {generator['steps']} steps, "
        f"guidance {generator['guidance_scale']}. Intervals are 95% (Wilson). The ceiling is the "
        "classifier's accuracy on real test images of the class.",
        "",
        "| class | judged as | conditional accuracy | ceiling (real test images) |",
        "|---|---|---|---|",
    ]
    judged_names = list(ceiling["per_class"])
    for name, measurement in generator["conditional_accuracy_per_class"].items():
        target = judged_names[generator["judged_as"][name]]
        lines.append(
            f"| {name} | {target} | {interval(measurement)} | {ceiling['per_class'][target]:.3f} |"
        )
    lines += [
        f"| **all** | | **{interval(generator['conditional_accuracy'])}** | "
        f"**{ceiling['accuracy']:.3f}** |",
        "",
        f"Fréchet distance on the classifier's penultimate features, {generator['samples']} "
        "samples against as many real test images of the same classes: "
        f"**{interval(generator['frechet_distance'], 3)}** (bootstrap); real against real at the "
        f"same count, the floor: {generator['frechet_distance_real_floor']:.3f}. Not comparable "
        "with Inception FID: other features, other sample count.",
    ]
    sweep = generator.get("sweep", {})
    if sweep:
        lines += [
            "",
            "### Guidance sweep (not gated)",
            "",
            "| solver | steps | guidance | conditional accuracy | Fréchet distance |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['solver']} | {row['steps']} | {row['guidance_scale']:g} | "
            f"{interval(row['conditional_accuracy'])} | {interval(row['frechet_distance'])} |"
            for row in sweep.values()
        ]
    return "\n".join(lines) + "\n"
