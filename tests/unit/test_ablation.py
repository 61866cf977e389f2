"""The ablation report: experiments read from `dvc exp show --json`, costs from their commits."""

from __future__ import annotations

import pytest

from tools import ablation, readme


def state(rev: str, name: str, params: dict, accuracy: float, experiments=None) -> dict:
    measured = {"value": accuracy, "ci95_low": accuracy - 0.03, "ci95_high": accuracy + 0.03}
    generator = {
        "solver": params["sample"]["solver"],
        "steps": params["sample"]["steps"],
        "guidance_scale": 4.0,
        "samples": 1000,
        "conditional_accuracy_per_class": {},
        "sweep": {},
        "conditional_accuracy": measured,
        "frechet_distance": {"value": 5.0, "ci95_low": 4.8, "ci95_high": 5.4},
        "frechet_distance_real_floor": 0.27,
    }
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "params": {"params.yaml": {"data": params}},
            "metrics": {"metrics/validate.json": {"data": {"generator": generator}}},
        },
        "error": None,
        "experiments": experiments,
    }


def params(solver: str, steps: int, stem: int) -> dict:
    return {"train_dit": {"model": {"stem_channels": stem}}, "sample": {"solver": solver,
            "steps": steps}}  # fmt: skip


@pytest.fixture
def shown() -> list[dict]:
    runs = [
        {"revs": [state("aaa", "control", params("euler", 20, 0), 0.34)], "name": "control"},
        {"revs": [state("bbb", "stem", params("heun", 10, 16), 0.52)], "name": "stem"},
    ]
    return [
        state("workspace", None, params("euler", 20, 0), 0.34),
        state("base", "main", params("euler", 20, 0), 0.34, experiments=runs),
    ]


def test_experiments_are_found_by_name_with_their_commits(shown: list[dict]) -> None:
    records = ablation.experiment_records(shown)
    assert {name: record["rev"] for name, record in records.items()} == {
        "main": "base", "control": "aaa", "stem": "bbb",
    }  # fmt: skip


def test_rows_cost_a_heun_step_two_evaluations_and_name_what_changed(
    shown: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = {
        ("aaa", "reports/timing/train_dit.json"): {"wall_s": 600.0},
        ("bbb", "reports/timing/train_dit.json"): {"wall_s": 540.0},
        ("aaa", "reports/timing/quantize.json"): {"generator_images_per_s": {"fp32": 500.0}},
        ("bbb", "reports/timing/quantize.json"): {"generator_images_per_s": {"fp32": 400.0}},
    }
    monkeypatch.setattr(ablation, "committed_json", lambda rev, path: committed[rev, path])
    records = ablation.experiment_records(shown)
    rows = ablation.rows(records, ["control", "stem=with a stem"])
    assert [row.name for row in rows] == ["control", "with a stem"]
    assert rows[0].changed == {}
    assert rows[1].changed == {
        "train_dit.model.stem_channels": "16", "sample.solver": "heun", "sample.steps": "10",
    }  # fmt: skip
    assert rows[1].guided_evaluations_per_image == 20 == rows[0].guided_evaluations_per_image
    assert rows[0].sampling_ms_per_image == 40.0 and rows[1].sampling_ms_per_image == 50.0
    assert rows[1].train_minutes == 9.0


def test_an_unknown_experiment_is_named(shown: list[dict]) -> None:
    with pytest.raises(SystemExit, match="no such experiment: nope"):
        ablation.rows(ablation.experiment_records(shown), ["control", "nope"])


def test_the_readme_table_shows_intervals_and_changes(
    shown: list[dict], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setattr(
        ablation, "committed_json",
        lambda rev, path: {"wall_s": 60.0, "generator_images_per_s": {"fp32": 1000.0}},
    )  # fmt: skip
    report = tmp_path / "ablation.json"
    ablation.write(ablation.rows(ablation.experiment_records(shown), ["control", "stem"]), report)
    monkeypatch.setattr(readme, "ABLATION", report)
    table = readme.ablation_table()
    assert "| `control` | (the control) | 0.340 (0.310–0.370) |" in table
    assert "`model.stem_channels=16`, `sample.solver=heun`, `sample.steps=10`" in table
    assert "5.00 (4.80–5.40); floor 0.27" in table
