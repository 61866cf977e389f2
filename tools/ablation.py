"""The generator's ablation: experiments from `dvc exp show`, one row each, failing ones
included, with what each costs measured side by side in one benchmark run.

    python -m tools.ablation exp-a exp-b main=cpu-v2    # writes reports/ablation.json

An argument names an experiment (or a branch's commit), optionally `=LABEL` for its row; the
first is the control that the others are compared with.

Each row holds what `dvc exp show` records of the experiment: the generator and sampling params
that differ from the control's, the judged quality with its intervals, the worst class, the
judge's own accuracy on real images (the ceiling), and which gates failed. What a row costs is
measured here, all rows side by side in this one run (`benchmarks.benchmark.generator_costs`):
`train_dit`'s own loop on the same images, and a sampled image's guided evaluations.
`python -m tools.readme` turns the report into the README's table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.benchmark import generator_costs
from pipeline.generator.presets import Preset, generator_preset
from pipeline.project import paths
from pipeline.quality.judge import Judgement
from pipeline.quality.statistics import Measurement
from pipeline.records import write_record
from pipeline.schema import flatten, parse

ABLATION = paths.REPORTS / "ablation.json"
COMMIT = re.compile(r"[0-9a-f]{40}")  # the workspace's rev is the word "workspace"
GENERATOR_PARAMS = ("train_dit.model.", "train_dit.train.", "sample.")  # what a row may change


@dataclass(frozen=True)
class AblationRow:
    name: str
    changed: dict[str, str]  # generator and sampling params that differ from the control's
    conditional_accuracy: Measurement
    ceiling: float  # the judge's accuracy on real test images
    worst_class: str
    worst_class_accuracy: float
    frechet_distance: Measurement
    frechet_floor: float
    passed: bool
    failing: str  # the gates that failed, comma-separated
    train_minutes: float  # measured side by side with every other row, in one run
    guided_evaluations_per_image: int
    sampling_ms_per_image: float


@dataclass(frozen=True)
class Ablation:
    """reports/ablation.json."""

    rows: tuple[AblationRow, ...]


def experiment_records(shown: list[dict]) -> dict[str, dict]:
    """Every experiment and commit in `dvc exp show --json` output, by name (an experiment's,
    a branch's) and by 7-character commit hash: its commit and data."""
    found = {}

    def visit(entry: dict) -> None:
        if isinstance(entry.get("data"), dict):
            record = {"rev": entry["rev"], **entry["data"]}
            if COMMIT.fullmatch(entry["rev"]):
                found[entry["rev"][:7]] = record
            if entry.get("name"):
                found[entry["name"]] = record
        for group in entry.get("experiments") or []:
            for revision in group.get("revs", []):
                visit(revision)

    for baseline in shown:
        visit(baseline)
    return found


def preset_of(record: dict) -> Preset:
    """The experiment's generator and sampling params, as the types the stages parse."""
    return generator_preset(record["params"]["params.yaml"]["data"])


def generator_params(record: dict) -> dict[str, Any]:
    params = flatten(record["params"]["params.yaml"]["data"])
    return {key: value for key, value in params.items() if key.startswith(GENERATOR_PARAMS)}


def metric(record: dict, stage: str) -> dict:
    return record["metrics"][paths.metrics(stage).as_posix()]["data"]


def row(name: str, record: dict, control: dict[str, Any], cost: dict) -> AblationRow:
    params = generator_params(record)
    verdicts = metric(record, "validate")
    judged = parse(Judgement, verdicts["generator"], "metrics/validate.json: generator")
    per_class = judged.conditional_accuracy_per_class
    worst = min(per_class, key=lambda name: per_class[name].value)
    return AblationRow(
        name=name,
        changed={k: yaml_value(v) for k, v in params.items() if control.get(k) != v},
        conditional_accuracy=judged.conditional_accuracy,
        ceiling=metric(record, "train_classifier")["test"]["accuracy"],
        worst_class=worst,
        worst_class_accuracy=per_class[worst].value,
        frechet_distance=judged.frechet_distance,
        frechet_floor=judged.frechet_distance_real_floor,
        passed=verdicts["passed"],
        failing=verdicts["failing"],
        train_minutes=cost["train_minutes"],
        guided_evaluations_per_image=cost["guided_evaluations_per_image"],
        sampling_ms_per_image=cost["sampling_ms_per_image"],
    )


def yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def rows(records: dict[str, dict], names: list[str], costs: dict[str, dict]) -> list[AblationRow]:
    """The rows of experiments `names` (`NAME` or `NAME=LABEL`), each with the generator params
    it changed against the first's and its measured cost."""
    labels = dict(name.split("=", 1) if "=" in name else (name, name) for name in names)
    control = generator_params(records[next(iter(labels))])
    return [row(label, records[name], control, costs[name]) for name, label in labels.items()]


def found(records: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """The named experiments' records; an unknown name is an error naming it."""
    wanted = [name.split("=", 1)[0] for name in names]
    missing = [name for name in wanted if name not in records]
    if missing:
        raise SystemExit(f"no such experiment: {', '.join(missing)} (see `dvc exp show`)")
    return {name: records[name] for name in wanted}


def write(found_rows: list[AblationRow], path: Path = ABLATION) -> None:
    write_record(path, Ablation(tuple(found_rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="experiments, in the table's order")
    parser.add_argument("--commits", type=int, default=1, help="experiments of the last N commits")
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds, rows taking turns")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", "--num", str(args.commits)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    records = found(experiment_records(json.loads(shown)), args.names)
    costs = generator_costs({name: preset_of(record) for name, record in records.items()},
                            args.rounds, args.threads)  # fmt: skip
    result = rows(records, args.names, costs)
    write(result)
    print(f"wrote {ABLATION} ({len(result)} experiments)")


if __name__ == "__main__":
    main()
