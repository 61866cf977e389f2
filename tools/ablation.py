"""The generator's ablation: experiments from `dvc exp show`, one row each, kept in a report.

    python -m tools.ablation exp-a exp-b main=cpu-v2    # writes reports/ablation.json

An argument names an experiment (or a branch's commit), optionally `=LABEL` for its row.

Each row holds what `dvc exp show` records of the experiment (the generator params that differ
from the first experiment's, and the judged quality with its intervals) and, from the
experiment's own commit, what it cost: `train_dit`'s wall time and the generator's time per
guided evaluation (the conditional and the null velocity, in one batch). Sampling cost per
image is guided evaluations (1 per Euler step, 2 per Heun step) times that time.
`python -m tools.readme` turns the report into the README's table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.generator.flow import EVALUATIONS_PER_STEP
from pipeline.project import paths
from pipeline.quality.judge import Judgement
from pipeline.quality.statistics import Measurement
from pipeline.records import write_record
from pipeline.schema import flatten, parse

ABLATION = paths.REPORTS / "ablation.json"
GENERATOR_PARAMS = ("train_dit.model.", "train_dit.train.", "sample.")  # what a row may change


@dataclass(frozen=True)
class AblationRow:
    name: str
    changed: dict[str, str]  # generator params that differ from the first row's, as YAML
    conditional_accuracy: Measurement
    frechet_distance: Measurement
    frechet_floor: float
    train_minutes: float  # this run's wall time on a shared machine
    guided_evaluations_per_image: int
    ms_per_evaluation: float
    sampling_ms_per_image: float


@dataclass(frozen=True)
class Ablation:
    """reports/ablation.json."""

    rows: tuple[AblationRow, ...]


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


def generator_params(record: dict) -> dict[str, Any]:
    params = flatten(record["params"]["params.yaml"]["data"])
    return {key: value for key, value in params.items() if key.startswith(GENERATOR_PARAMS)}


def row(name: str, record: dict, first: dict[str, Any]) -> AblationRow:
    params = generator_params(record)
    metrics = record["metrics"][paths.metrics("validate").as_posix()]["data"]
    quality = parse(Judgement, metrics["generator"], "metrics/validate.json: generator")
    assert quality.conditional_accuracy and quality.frechet_distance, f"{name} was not judged"
    training = committed_json(record["rev"], paths.timing("train_dit").as_posix())
    speed = committed_json(record["rev"], paths.timing("quantize").as_posix())
    evaluations = params["sample.steps"] * EVALUATIONS_PER_STEP[params["sample.solver"]]
    per_evaluation_ms = 1000 / speed["generator_images_per_s"]["fp32"]  # conditional and null
    return AblationRow(
        name=name,
        changed={k: yaml_value(v) for k, v in params.items() if first.get(k) != v},
        conditional_accuracy=quality.conditional_accuracy,
        frechet_distance=quality.frechet_distance,
        frechet_floor=quality.frechet_distance_real_floor or 0.0,
        train_minutes=round(training["wall_s"] / 60, 1),
        guided_evaluations_per_image=evaluations,
        ms_per_evaluation=round(per_evaluation_ms, 2),
        sampling_ms_per_image=round(evaluations * per_evaluation_ms, 1),
    )


def yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def rows(records: dict[str, dict], names: list[str]) -> list[AblationRow]:
    """The rows of experiments `names` (`NAME` or `NAME=LABEL`), each with the generator params
    it changed against the first's."""
    labels = dict(name.split("=", 1) if "=" in name else (name, name) for name in names)
    missing = [name for name in labels if name not in records]
    if missing:
        raise SystemExit(f"no such experiment: {', '.join(missing)} (see `dvc exp show`)")
    first = generator_params(records[next(iter(labels))])
    return [row(label, records[name], first) for name, label in labels.items()]


def write(found: list[AblationRow], path: Path = ABLATION) -> None:
    write_record(path, Ablation(tuple(found)))


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
