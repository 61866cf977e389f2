"""The generator's levers judged by what took no part in choosing them: experiments from `dvc exp
show`, one row each, failing ones kept, by the held-out classifier, CAS and precision and
recall, beside the trained judge that earlier ablations chose by.

    python -m tools.levers 3a0bc6e=cpu-v3 repa scale-2x repa-2x    # writes reports/levers.json

An argument names an experiment, a branch or a commit (its 7-character hash), optionally
`=LABEL` for its row; the first is the control. A row's compute is its training images
(steps x batch) against the control's; `python -m tools.readme` turns the report into the
README's table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from pipeline.project import paths
from pipeline.quality.cas import ClassificationAccuracyScore
from pipeline.quality.judge import Judgement
from pipeline.quality.statistics import Measurement
from pipeline.records import write_record
from pipeline.schema import flatten, parse
from tools.ablation import experiment_records, found, metric, yaml_value

LEVERS = paths.REPORTS / "levers.json"
# what a row may change: the generator, its training and its sampling, not how a run is shown
LEVER_PARAMS = ("train_dit.model.", "train_dit.train.", "train_dit.repa.", "sample.")


@dataclass(frozen=True)
class LeverRow:
    name: str
    changed: dict[str, str]  # the lever params that differ from the control's
    training_images: int  # steps x batch
    held_out: Measurement  # conditional accuracy by the held-out classifier
    held_out_ceiling: float  # its accuracy on real test images
    held_out_worst_class: str
    held_out_worst: float
    cas_ratio: float | None  # None: CAS was off in that run
    cas_worst_class: str | None  # the lowest share of what real images teach, class by class
    cas_worst: float | None  # its test accuracy trained on samples
    cas_worst_real: float | None  # and trained on as many real images
    precision: Measurement | None  # in the held-out classifier's features
    recall: Measurement | None
    trained_judge: Measurement  # conditional accuracy by the trained classifier
    passed: bool
    failing: str


@dataclass(frozen=True)
class Levers:
    """reports/levers.json."""

    rows: tuple[LeverRow, ...]


def lever_params(record: dict) -> dict[str, Any]:
    params = flatten(record["params"]["params.yaml"]["data"])
    return {key: value for key, value in params.items() if key.startswith(LEVER_PARAMS)}


def least_taught(cas: ClassificationAccuracyScore) -> str:
    """The class whose samples teach the smallest share of what as many real images teach."""
    generated, real = cas.generated_per_class, cas.real_per_class
    return min(generated, key=lambda c: generated[c].value / max(real[c].value, 1e-9))


def row(name: str, record: dict, control: dict[str, Any]) -> LeverRow:
    params = lever_params(record)
    verdicts = metric(record, "validate")
    judged = parse(Judgement, verdicts["generator"], "metrics/validate.json: generator")
    held = judged.held_out
    if held is None:
        raise SystemExit(f"{name}: no held-out judgement (classes no held-out classifier knows)")
    per_class = held.conditional_accuracy_per_class
    worst = min(per_class, key=lambda c: per_class[c].value)
    pr = held.precision_recall
    cas = judged.cas
    cas_worst = least_taught(cas) if cas else None
    return LeverRow(
        name=name,
        changed={k: yaml_value(v) for k, v in params.items() if control.get(k) != v},
        training_images=params["train_dit.train.steps"] * params["train_dit.train.batch_size"],
        held_out=held.conditional_accuracy,
        held_out_ceiling=held.ceiling,
        held_out_worst_class=worst,
        held_out_worst=per_class[worst].value,
        cas_ratio=cas.ratio if cas else None,
        cas_worst_class=cas_worst,
        cas_worst=cas.generated_per_class[cas_worst].value if cas and cas_worst else None,
        cas_worst_real=cas.real_per_class[cas_worst].value if cas and cas_worst else None,
        precision=pr.precision if pr else None,
        recall=pr.recall if pr else None,
        trained_judge=judged.conditional_accuracy,
        passed=verdicts["passed"],
        failing=verdicts["failing"],
    )


def rows(records: dict[str, dict], names: list[str]) -> list[LeverRow]:
    labels = dict(name.split("=", 1) if "=" in name else (name, name) for name in names)
    control = lever_params(records[next(iter(labels))])
    return [row(label, records[name], control) for name, label in labels.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="experiments, in the table's order")
    parser.add_argument("--commits", type=int, default=5, help="experiments of the last N commits")
    args = parser.parse_args()
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", "--num", str(args.commits)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    records = found(experiment_records(json.loads(shown.stdout)), args.names)
    table = rows(records, args.names)
    write_record(LEVERS, Levers(tuple(table)))
    for each in table:
        print(f"{each.name}: held-out {each.held_out.value:.3f}, CAS {each.cas_ratio}")


if __name__ == "__main__":
    main()
