"""A review of what a change did to the pipeline's results, as markdown: the params that changed,
every metric that moved (beyond its noise, or within it), each gate's verdict, every chart of both
sides drawn as an image, and the sample grids of both sides.

    python -m tools.review                  # the workspace against main
    python -m tools.review --base HEAD~1 --out review/review.md

A measurement recorded with its 95% interval (`value`, `ci95_low`, `ci95_high`) moved beyond
its noise when the change exceeds the two half-widths combined (sqrt(h1^2 + h2^2)). Any other
metric is exact: the same inputs give the same value, so every change is real.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError, run_main
from pipeline.files import read_json, write_text
from pipeline.project import paths
from pipeline.quality.markdown import table, verdict_line
from tools.chart_images import chart_images

INTERVAL = ("value", "ci95_low", "ci95_high")
WORKSPACE = "workspace"  # DVC's name for the working tree's revision
SIDES = {"base": "base", "change": "this change"}  # each side's file name and column heading


@dataclass(frozen=True)
class Change:
    metric: str  # file: dotted key, without `.value` for a measurement
    old: float | None
    new: float | None
    noise: float | None  # the 95% half-width of the difference; None for an exact metric

    @property
    def verdict(self) -> str:
        if self.old is None or self.new is None:
            return "new" if self.old is None else "removed"
        if self.noise is None:
            return "**changed** (exact)"
        beyond = abs(self.new - self.old) > self.noise
        return "**beyond noise**" if beyond else "within noise"


def changes(diff: dict[str, dict[str, dict[str, Any]]]) -> list[Change]:
    """The metrics that moved, from `dvc metrics diff --all --json`; measurements with an
    interval become one change with its noise. Gates are reported on their own."""
    found = []
    for file, entries in diff.items():
        for key, entry in entries.items():
            if key.startswith("gates.") or key.rsplit(".", 1)[-1] in INTERVAL[1:]:
                continue
            old, new = entry.get("old"), entry.get("new")
            if old == new or not all(isinstance(v, int | float | None) for v in (old, new)):
                continue
            stem, _, last = key.rpartition(".")
            noise = None
            if last == "value" and all(f"{stem}.{k}" in entries for k in INTERVAL[1:]):
                low, high = (entries[f"{stem}.{k}"] for k in INTERVAL[1:])
                halves = [(high[side] - low[side]) / 2 for side in ("old", "new")]
                noise, key = math.hypot(*halves), stem
            found.append(Change(f"{file}: {key}", old, new, noise))
    return found


def dvc(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args, "--json"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise PipelineError(f"dvc {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout or "{}")


def gate_rows(base: str) -> list[tuple[str, str, str]]:
    """Each gate's verdict at the base and in the workspace."""
    head = (
        read_json(paths.metrics("validate"))["gates"] if paths.metrics("validate").is_file() else {}
    )
    shown = subprocess.run(
        ["git", "show", f"{base}:{paths.metrics('validate').as_posix()}"],
        capture_output=True,
        text=True,
    )
    before = json.loads(shown.stdout)["gates"] if shown.returncode == 0 else {}

    def verdict(gate: dict | None) -> str:
        if gate is None:
            return "—"
        passed = gate.get("passed", gate.get("pass"))  # "pass" in files of older revisions
        return "pass" if passed else "**FAIL**"

    return [
        (name, verdict(before.get(name)), verdict(head.get(name))) for name in {**before, **head}
    ]


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def metrics_section(moved: list[Change]) -> list[str]:
    if not moved:
        return ["No metric changed."]
    rows = []
    for change in moved:
        delta = None if None in (change.old, change.new) else change.new - change.old
        noise = "±" + number(change.noise) if change.noise else "exact"
        rows.append((f"`{change.metric}`", number(change.old), number(change.new), number(delta),
                     noise, change.verdict))  # fmt: skip
    header = ["metric", "base", "this change", "change", "noise (95%)", "verdict"]
    beyond = sum("beyond" in c.verdict or "changed" in c.verdict for c in moved)
    return [table(header, rows), "", f"{beyond} of {len(moved)} changed metrics moved beyond "
            "their noise."]  # fmt: skip


def side_by_side(images: dict[str, dict[str, str]]) -> list[str]:
    """Per plot, its image on each side ("—" where a side has none), the plot named in the alt."""
    lines = []
    for plot, shown in images.items():
        cells = [
            f"![{heading}: {plot}]({shown[side]})" if side in shown else "—"
            for side, heading in SIDES.items()
        ]
        lines += [f"`{plot}`", "", table(list(SIDES.values()), [cells]), ""]
    return lines


def report(
    base: str, params: dict, moved: list[Change], gates: list, grids: dict, charts: dict
) -> str:
    lines = [f"# Pipeline review: workspace against `{base}`", "", "## Gates", ""]
    lines.append(verdict_line([name for name, _, head in gates if head != "pass"]))
    sides = list(SIDES.values())
    lines += ["", table(["gate", *sides], ((f"`{n}`", old, new) for n, old, new in gates))]
    lines += ["", "## Params", ""]
    rows = [
        (f"`{file}: {key}`", entry.get("old"), entry.get("new"))
        for file, entries in params.items()
        for key, entry in entries.items()
    ]
    lines.append(table(["param", *sides], rows) if rows else "No change.")
    lines += ["", "## Metrics", "", *metrics_section(moved), "", "## Charts", ""]
    lines += side_by_side(charts) or ["No chart.", ""]
    lines += ["## Samples", "", *(side_by_side(grids) or ["No sample grid."])]
    return "\n".join(lines).rstrip() + "\n"


def plots_diff(base: str, folder: Path) -> dict[str, Any]:
    """Both revisions' plots as DVC renders them, its images written under `folder/plots`."""
    shutil.rmtree(folder / "plots", ignore_errors=True)
    return dvc("plots", "diff", base, "-o", str(folder / "plots"))


def sample_grids(
    rendered: dict[str, Any], sides: dict[str, str], folder: Path
) -> dict[str, dict[str, str]]:
    """Image plots per side, relative to the report's folder."""
    grids: dict[str, dict[str, str]] = {}
    for plot, entries in rendered.get("data", {}).items():
        for entry in entries:
            if entry.get("type") == "image":
                url = Path(entry["url"]).resolve().relative_to(folder.resolve())
                grids.setdefault(plot, {})[sides[entry["revisions"][0]]] = url.as_posix()
    return grids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="main", help="the revision to compare with")
    parser.add_argument("--out", type=Path, default=Path("review/review.md"))
    args = parser.parse_args()
    params = dvc("params", "diff", args.base)
    moved = changes(dvc("metrics", "diff", args.base, "--all"))
    rendered = plots_diff(args.base, args.out.parent)
    sides = {args.base: "base", WORKSPACE: "change"}
    grids = sample_grids(rendered, sides, args.out.parent)
    charts = chart_images(rendered, sides, args.out.parent)
    text = report(args.base, params, moved, gate_rows(args.base), grids, charts)
    write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_main(main)
