"""The ablation report: experiments read from `dvc exp show --json`, failing ones included, with
costs measured side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.records import write_record
from tools import ablation, levers, readme


def state(rev: str, name: str | None, params: dict, accuracy: float, failing: str = "",
          experiments: list | None = None) -> dict:  # fmt: skip
    measured = {"value": accuracy, "ci95_low": accuracy - 0.03, "ci95_high": accuracy + 0.03}
    per_class = {"cat": {**measured, "value": accuracy - 0.1}, "dog": measured}
    generator = {
        "solver": params["sample"]["solver"], "steps": params["sample"]["steps"],
        "guidance_scale": 4.0, "samples": 1000, "conditional_accuracy": measured,
        "conditional_accuracy_per_class": per_class, "sweep": {},
        "frechet_distance": {"value": 5.0, "ci95_low": 4.8, "ci95_high": 5.4},
        "frechet_distance_real_floor": 0.27,
    }  # fmt: skip
    metrics = {
        "metrics/validate.json": {"data": {"generator": generator, "passed": not failing,
                                           "failing": failing}},
        "metrics/train_classifier.json": {"data": {"test": {"accuracy": 0.85}}},
    }  # fmt: skip
    return {
        "rev": rev,
        "name": name,
        "data": {"rev": rev, "params": {"params.yaml": {"data": params}}, "metrics": metrics},
        "error": None,
        "experiments": experiments,
    }


def params(solver: str, steps: int, stem: int) -> dict:
    return {"train_dit": {"model": {"stem_channels": stem}}, "sample": {"solver": solver,
            "steps": steps}}  # fmt: skip


BASE = "3a0bc6e" + "0" * 33


@pytest.fixture
def records() -> dict[str, dict]:
    runs = [
        {"revs": [state("aaa", "control", params("euler", 20, 0), 0.34)], "name": "control"},
        {"revs": [state("bbb", "stem", params("heun", 10, 16), 0.52, "generator_frechet_distance")],
         "name": "stem"},
    ]  # fmt: skip
    shown = [
        state("workspace", None, params("euler", 20, 0), 0.34),
        state(BASE, "main", params("euler", 20, 0), 0.34, experiments=runs),
    ]
    return ablation.experiment_records(shown)


COSTS = {
    "control": {"train_minutes": 12.0, "guided_evaluations_per_image": 20,
                "sampling_ms_per_image": 40.0},
    "stem": {"train_minutes": 12.6, "guided_evaluations_per_image": 20,
             "sampling_ms_per_image": 50.0},
}  # fmt: skip


def test_experiments_are_found_by_name_with_their_commits(records: dict[str, dict]) -> None:
    assert {name: record["rev"] for name, record in records.items()} == {
        "main": BASE, BASE[:7]: BASE, "control": "aaa", "stem": "bbb",
    }  # fmt: skip


def test_rows_name_what_changed_the_worst_class_and_the_failing_gates(
    records: dict[str, dict],
) -> None:
    rows = ablation.rows(records, ["control", "stem=with a stem"], COSTS)
    assert [row.name for row in rows] == ["control", "with a stem"]
    assert rows[0].changed == {} and rows[0].passed and rows[0].failing == ""
    assert rows[1].changed == {
        "train_dit.model.stem_channels": "16", "sample.solver": "heun", "sample.steps": "10",
    }  # fmt: skip
    assert (rows[1].worst_class, rows[1].worst_class_accuracy) == ("cat", pytest.approx(0.42))
    assert not rows[1].passed and rows[1].failing == "generator_frechet_distance"
    assert rows[1].ceiling == 0.85 and rows[1].train_minutes == 12.6


def test_an_unknown_experiment_is_named(records: dict[str, dict]) -> None:
    with pytest.raises(SystemExit, match="no such experiment: nope"):
        ablation.found(records, ["control", "nope"])


def test_the_readme_table_shows_intervals_ratios_and_failures(
    records: dict[str, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report = tmp_path / "ablation.json"
    ablation.write(ablation.rows(records, ["control", "stem"], COSTS), report)
    monkeypatch.setattr(readme, "ABLATION", report)
    table = readme.ablation_table()
    assert "| `control` | (the control) | 0.340 (0.310–0.370) | 0.36 | cat 0.24 |" in table
    assert "`model.stem_channels=16`, `sample.solver=heun`, `sample.steps=10`" in table
    assert (
        "**fails** generator_frechet_distance | 12.6 (1.05x) | 20 evaluations, 50 ms (1.25x)"
        in (table)
    )


def test_the_levers_are_judged_by_the_held_out_instruments(
    records: dict[str, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, held in (("control", 0.30), ("stem", 0.45)):
        data = records[name]["metrics"]["metrics/validate.json"]["data"]
        measured = {"value": held, "ci95_low": held - 0.03, "ci95_high": held + 0.03}
        data["generator"]["held_out"] = {
            "judge": "models/resnet8.onnx", "ceiling": 0.75, "conditional_accuracy": measured,
            "conditional_accuracy_per_class": {"cat": measured, "dog": {**measured, "value": 0.1}},
        }  # fmt: skip
        if name == "stem":  # cat teaches 0.30 of its real 0.50; dog 0.20 of 0.25
            m = {"cat": (0.30, 0.50), "dog": (0.20, 0.25)}
            data["generator"]["cas"] = {
                "samples_per_class": 5, "epochs": 1, "ratio": 0.62,
                "generated": {**measured, "value": 0.25}, "real": {**measured, "value": 0.40},
                "generated_per_class": {c: {**measured, "value": g} for c, (g, _) in m.items()},
                "real_per_class": {c: {**measured, "value": r} for c, (_, r) in m.items()},
            }  # fmt: skip
        records[name]["params"]["params.yaml"]["data"]["train_dit"]["train"] = {
            "steps": 100 if name == "control" else 200, "batch_size": 32,
        }  # fmt: skip
    found = levers.rows(records, ["control", "stem=with a stem"])
    assert found[1].changed["train_dit.train.steps"] == "200"
    assert (found[1].held_out_worst_class, found[1].held_out_worst) == ("dog", 0.1)
    assert found[0].cas_ratio is None and found[0].cas_worst_class is None  # CAS was off
    assert found[1].recall is None  # not measured in that run
    assert (found[1].cas_ratio, found[1].cas_worst_class) == (0.62, "cat")
    report = tmp_path / "levers.json"
    write_record(report, levers.Levers(tuple(found)))
    monkeypatch.setattr(readme, "LEVERS", report)
    text = readme.levers_table()
    assert "| `with a stem` |" in text
    assert "| 2x | 0.450 (0.420–0.480) |" in text
    assert "| 0.450 (0.420–0.480) | 0.56 | dog 0.10 | 0.62 | cat 0.30 (real 0.50) | — |" in text
    assert "| 1x | 0.300 (0.270–0.330) | 0.36 | dog 0.10 | — | — | — |" in text
    assert "**fails** generator_frechet_distance" in text
    records["control"]["metrics"]["metrics/validate.json"]["data"]["generator"]["held_out"] = None
    with pytest.raises(SystemExit, match="control: no held-out judgement"):
        levers.rows(records, ["control"])
