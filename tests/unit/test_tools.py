"""The plumbing's tools: the README's tables and the review's reading of noise."""

import pytest

from tests.conftest import ROOT
from tools import readme
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
