"""The plumbing's tools: the README's tables and the review's reading of noise."""

from dataclasses import replace

import pytest

from pipeline.quality.statistics import Measurement
from tests.conftest import ROOT
from tools import readme
from tools.app_sampling import Candidate, choose
from tools.review import Change, changes


def test_readme_tables_are_made_from_the_committed_metrics(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "run: python -m tools.readme"


def test_a_readme_without_a_table_block_is_an_error() -> None:
    with pytest.raises(
        ValueError, match="no <!-- table:results --> ... <!-- /table:results --> block"
    ):
        readme.render("# nothing here\n")


def measurement(old: tuple[float, float, float], new: tuple[float, float, float]) -> dict:
    keys = ("value", "ci95_low", "ci95_high")
    return {
        f"generator.accuracy.{key}": {"old": a, "new": b, "diff": b - a}
        for key, a, b in zip(keys, old, new, strict=True)
    }


def test_a_measurement_moved_within_its_noise_is_not_flagged() -> None:
    diff = {"metrics/validate.json": measurement((0.50, 0.47, 0.53), (0.52, 0.49, 0.55))}
    (change,) = changes(diff)
    assert change.metric == "metrics/validate.json: generator.accuracy"
    assert change.noise == pytest.approx((0.03**2 * 2) ** 0.5)
    assert change.verdict == "within noise"


def test_a_measurement_moved_beyond_its_noise_is_flagged() -> None:
    diff = {"metrics/validate.json": measurement((0.36, 0.33, 0.39), (0.52, 0.49, 0.55))}
    assert changes(diff)[0].verdict == "**beyond noise**"


def test_an_exact_metric_that_changed_is_flagged_and_gates_are_left_out() -> None:
    diff = {
        "metrics/quantize.json": {
            "classifier.int8.bytes": {"old": 113855, "new": 113861, "diff": 6},
            "classifier.fp32.bytes": {"old": 321578, "new": 321578, "diff": 0},
        },
        "metrics/validate.json": {"gates.classifier_bytes.value": {"old": 1, "new": 2}},
    }
    (change,) = changes(diff)
    assert change == Change("metrics/quantize.json: classifier.int8.bytes", 113855, 113861, None)
    assert change.verdict == "**changed** (exact)"


def test_a_metric_only_on_one_side_is_new_or_removed() -> None:
    diff = {"m.json": {"a": {"old": None, "new": 1.0}, "b": {"old": 2.0, "new": None}}}
    assert [c.verdict for c in changes(diff)] == ["new", "removed"]


def test_the_review_workflow_runs_the_review_command() -> None:
    workflow = (ROOT / ".github/workflows/review.yml").read_text()
    assert "python -m tools.review --base" in workflow
    assert "gh pr comment" in workflow and "--body-file review/review.md" in workflow


def test_the_forge_runs_cis_own_scripts_and_publishes_the_built_app() -> None:
    tests = (ROOT / ".github/workflows/test.yml").read_text()
    assert ".ci/run" in tests and "push:" in tests and "pull_request:" in tests
    app = (ROOT / ".github/workflows/app.yml").read_text()
    assert ".ci/setup" in app and "npm --prefix web run build" in app
    assert "path: web/dist" in app and "actions/deploy-pages" in app
    assert ".ci/setup" in (ROOT / ".ci/run").read_text()


def candidate(precision: str, steps: int, shift: float, accuracy: float, distance: float,
              eligible: bool) -> Candidate:  # fmt: skip
    return Candidate(precision, steps, shift, Measurement(accuracy, accuracy - 0.03,
                     accuracy + 0.03), Measurement(distance, distance - 0.1, distance + 0.1),
                     eligible)  # fmt: skip


def test_the_app_sampler_is_the_cheapest_eligible_setting_and_the_most_accurate_of_equals() -> None:
    reference = candidate("fp32", 20, 1.0, 0.74, 1.2, False)
    rows = [
        candidate("int8", 4, 1.0, 0.70, 1.3, False),
        candidate("int8", 8, 0.5, 0.745, 1.1, True),
        candidate("int8", 8, 1.0, 0.75, 1.1, True),
        candidate("fp32", 8, 1.0, 0.76, 1.0, True),  # more accurate, but costlier than int8
        candidate("int8", 10, 1.0, 0.77, 1.0, True),
    ]
    per_step = {"int8": 0.6, "fp32": 1.0}
    assert choose(rows, reference, per_step) == rows[2]
    assert choose([replace(row, eligible=False) for row in rows], reference, per_step) == reference
    # more int8 steps win where they take less time than fewer fp32 ones, and lose where not
    rows = [candidate("fp32", 6, 0.5, 0.75, 1.0, True), candidate("int8", 8, 0.5, 0.75, 1.0, True)]
    assert choose(rows, reference, {"int8": 0.64, "fp32": 1.0}) == rows[1]
    assert choose(rows, reference, {"int8": 0.8, "fp32": 1.0}) == rows[0]
