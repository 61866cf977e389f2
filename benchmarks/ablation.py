"""The generator's ablation: experiments from `dvc exp show`, one row each, kept in a report.

    python benchmarks/ablation.py exp-a exp-b main=cpu-v2    # writes reports/ablation.json

An argument names an experiment (or a branch's commit), optionally `=LABEL` for its row.

Each row holds what `dvc exp show` records of the experiment (its params, those that differ
from the first experiment's, and the judged quality with its intervals) and, from the
experiment's own commit, what it cost: `train_dit`'s wall time and the generator's time per
guided evaluation (the conditional and the null velocity, in one batch). Sampling cost per
image is guided evaluations (1 per Euler step, 2 per Heun step) times that time.
`python -m pipeline.project.readme` turns the report into the README's table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.files import write_json
from pipeline.generator.flow import EVALUATIONS_PER_STEP
from pipeline.project import paths

ABLATION = paths.REPORTS / "ablation.json"
QUALITY = "metrics/validate.json"
GENERATOR_PARAMS = ("train_dit.model.", "train_dit.train.", "sample.")  # what a row may change


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def experiment_records(shown: list[dict]) -> dict[str, dict]:
    """Every experiment in `dvc exp show --json` output, by name: its commit and data."""
    found = {}

    def visit(entry: dict) -> None:
        if entry.get("name") and isinstance(entry.get("data"), dict):
            found[entry["name"]] = {"rev": entry["rev"], **entry["data"]}
        for group in entry.get("experiments") or []:
            for revision in group.get("revs", []):
                visit(revision)

    for baseline in shown:
        visit(baseline)
    return found


def committed_json(rev: str, path: str) -> dict:
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    if shown.returncode:
        raise SystemExit(f"{path} is not in experiment commit {rev}: {shown.stderr.strip()}")
    return json.loads(shown.stdout)


def row(name: str, record: dict) -> dict:
    params = flatten(record["params"]["params.yaml"]["data"])
    quality = record["metrics"][QUALITY]["data"]["generator"]
    training = committed_json(record["rev"], "reports/timing/train_dit.json")
    speed = committed_json(record["rev"], "reports/timing/quantize.json")
    solver, steps = params["sample.solver"], params["sample.steps"]
    evaluations = steps * EVALUATIONS_PER_STEP[solver]  # each: conditional and null, batched
    per_evaluation_ms = 1000 / speed["generator_images_per_s"]["fp32"]
    return {
        "name": name,
        "params": params,
        "conditional_accuracy": quality["conditional_accuracy"],
        "frechet_distance": quality["frechet_distance"],
        "frechet_floor": quality["frechet_distance_real_floor"],
        "train_minutes": round(training["wall_s"] / 60, 1),
        "guided_evaluations_per_image": evaluations,
        "ms_per_evaluation": round(per_evaluation_ms, 2),
        "sampling_ms_per_image": round(evaluations * per_evaluation_ms, 1),
    }


def rows(records: dict[str, dict], names: list[str]) -> list[dict]:
    """The rows of experiments `names` (`NAME` or `NAME=LABEL`), each with the generator params
    it changed against the first's (how it was judged aside)."""
    labels = dict(name.split("=", 1) if "=" in name else (name, name) for name in names)
    missing = [name for name in labels if name not in records]
    if missing:
        raise SystemExit(f"no such experiment: {', '.join(missing)} (see `dvc exp show`)")
    found = [row(label, records[name]) for name, label in labels.items()]
    for each in found:
        each["changed"] = {
            k: v
            for k, v in each["params"].items()
            if k.startswith(GENERATOR_PARAMS) and found[0]["params"].get(k) != v
        }
    return found


def write(rows: list[dict], path: Path = ABLATION) -> None:
    write_json(path, {"rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="experiments, in the table's order")
    parser.add_argument(
        "--commits", type=int, default=1, help="look at experiments of the last N commits"
    )
    args = parser.parse_args()
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", "--num", str(args.commits)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = rows(experiment_records(json.loads(shown)), args.names)
    write(found)
    print(f"wrote {ABLATION} ({len(found)} experiments)")


if __name__ == "__main__":
    main()
