"""Gates over the stages' typed records, and the statistics behind them."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.classifier.evaluation import OnnxEvalMetrics
from pipeline.classifier.training import ClassifierTrainParams
from pipeline.data.images import ImageSet
from pipeline.quality.cas import CasParams, classification_accuracy_score
from pipeline.quality.gates import (
    GATES,
    Gate,
    GateParams,
    ValidationMetrics,
    Verdict,
    evaluate,
    markdown_table,
)
from pipeline.quality.judge import Judgement, fidelity_and_coverage
from pipeline.quality.recorded import Recorded
from pipeline.quality.statistics import (
    bootstrap_frechet,
    frechet_distance,
    manifold_hits,
    precision_recall,
    proportion,
)
from pipeline.records import RecordError, read_record
from pipeline.schema import parse
from tests.conftest import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
LIMITS = GateParams(**PARAMS["validate"]["gates"])


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """What the committed run recorded."""
    monkeypatch.chdir(ROOT)
    return Recorded.load()


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> Judgement:
    monkeypatch.chdir(ROOT)
    return read_record(ValidationMetrics, "metrics/validate.json", "validate").generator


def test_verdicts_pass_and_fail_by_their_rule() -> None:
    assert Verdict.of(0.86, ">=", 0.85).passed
    assert not Verdict.of(0.84, ">=", 0.85).passed
    assert Verdict.of(1e-5, "<=", 1e-4).passed
    assert not Verdict.of(1e-3, "<=", 1e-4).passed
    assert Verdict.of(0.3, ">=", 0.3) == Verdict(0.3, 0.3, ">=", True, "")
    assert not Verdict.of(None, "<=", 1.0).passed  # a value that could not be computed fails
    assert Verdict.of(None, "<=", 1.0, unless="not applicable: x").passed


def test_every_gate_reads_a_value_from_the_committed_records(
    recorded: Recorded, judged: Judgement
) -> None:
    gates = evaluate(recorded, judged, LIMITS)
    assert [gate.name for gate in gates] == [spec.name for spec in GATES]
    assert all(gate.verdict.value is not None for gate in gates)
    committed = json.loads((ROOT / "metrics/validate.json").read_text())["gates"]
    assert {gate.name: dataclasses.asdict(gate.verdict) for gate in gates} == committed


def test_the_gain_gate_does_not_apply_to_other_classes_and_says_so(
    recorded: Recorded, judged: Judgement
) -> None:
    other_classes = dataclasses.replace(recorded.train_classifier, perf=None)
    gates = evaluate(dataclasses.replace(recorded, train_classifier=other_classes), judged, LIMITS)
    verdict = {gate.name: gate for gate in gates}["trained_gain"].verdict
    assert verdict.passed and verdict.value is None
    assert verdict.problem == "not applicable: the classes are not the converted model's"
    assert "| n/a |" in markdown_table(gates)


def test_a_record_without_a_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    data = json.loads((ROOT / "metrics/onnx_eval.json").read_text())
    del data["perf"]["correct"]
    (tmp_path / "onnx_eval.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"onnx_eval.json: perf.correct: missing"):
        read_record(OnnxEvalMetrics, tmp_path / "onnx_eval.json", "onnx_eval")


def test_markdown_table_marks_failures_and_missing_values() -> None:
    table = markdown_table(
        [
            Gate("accuracy", "too low", Verdict.of(0.2, ">=", 0.3)),
            Gate("size", "m", Verdict.of(None, "<=", 1)),
        ]
    )
    assert "| `accuracy` | 0.2 | >= 0.3 | **FAIL** | too low |" in table
    assert "| `size` | — | <= 1 | **FAIL** | m. could not be computed |" in table


def test_proportion_interval_is_wilson() -> None:
    # Wilson 95% for 52/100, by hand: centre 0.519260, half-width 0.096095
    result = proportion(52, 100)
    assert result.value == 0.52
    assert result.ci95_low == pytest.approx(0.423165, abs=2e-6)
    assert result.ci95_high == pytest.approx(0.615355, abs=2e-6)
    edge = proportion(0, 10)
    assert edge.ci95_low == 0.0 and 0.25 < edge.ci95_high < 0.35


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    features = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 4))
    b = rng.normal(size=(20_000, 4)) + np.array([3.0, 0, 0, 0])
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.02)


def test_frechet_distance_counts_a_difference_of_spread() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20_000, 2)), 2 * rng.normal(size=(20_000, 2))
    # per axis: 1 + 4 - 2 * sqrt(1 * 4) = 1
    assert frechet_distance(a, b) == pytest.approx(2.0, rel=0.03)


def test_bootstrap_interval_brackets_the_spread_of_the_estimate() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3)) + 1.0
    result = bootstrap_frechet(a, b, rounds=100, seed=0)
    assert result.ci95_low < 3.0 < result.ci95_high
    assert result.ci95_high - result.ci95_low < 2.0
    assert bootstrap_frechet(a, b, rounds=100, seed=0) == result


def test_the_bootstrap_interval_holds_the_estimate_despite_the_resampling_bias() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))  # one distribution: d ~ 0
    result = bootstrap_frechet(a, b, rounds=100, seed=0)
    assert result.ci95_low <= result.value <= result.ci95_high


def test_a_point_is_inside_the_manifold_when_some_reference_ball_reaches_it() -> None:
    # four reference points on a line, 1 apart: with k = 1 every ball has radius 1
    reference = np.array([[0.0], [1.0], [2.0], [3.0]])
    points = np.array([[3.9], [4.1], [-1.0], [1.5]])
    assert manifold_hits(points, reference, k=1).tolist() == [True, False, True, True]
    # k = 3: the end points' balls reach 3 away
    assert manifold_hits(np.array([[6.0], [6.1]]), reference, k=3).tolist() == [True, False]


def test_precision_and_recall_tell_fidelity_from_coverage() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 8))
    # samples from one corner of the real distribution: faithful, covering little
    collapsed = rng.standard_normal((400, 8)) * 0.2 + real[0]
    precision, recall = precision_recall(collapsed, real)
    assert precision.value > 0.9 and recall.value < 0.2
    # samples spread far wider than the real images: covering, rarely faithful
    spread = rng.standard_normal((400, 8)) * 3
    precision, recall = precision_recall(spread, real)
    assert precision.value < 0.2 and recall.value > 0.9
    same = precision_recall(rng.standard_normal((400, 8)), real)
    assert all(0.6 < m.value < 1.0 and m.ci95_low < m.value < m.ci95_high for m in same)


def coloured(per_class: int, seed: int, noise: bool = False) -> ImageSet:
    """Red and blue 32-px images with speckle; `noise`: labels on pure noise instead."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], per_class)
    images = rng.integers(0, 60, (2 * per_class, 32, 32, 3))
    if not noise:
        images[labels == 0, :, :, 0] += 180
        images[labels == 1, :, :, 2] += 180
    else:
        images = rng.integers(0, 256, images.shape)
    return ImageSet(images.astype(np.uint8), labels.astype(np.int64), ("red", "blue"))


def test_cas_tells_samples_that_teach_from_samples_that_do_not() -> None:
    recipe = parse(ClassifierTrainParams, PARAMS["train_classifier"]["train"], where="train")
    recipe = dataclasses.replace(recipe, batch_size=16, warmup_steps=0, lr=0.003)
    params = CasParams(samples_per_class=24, epochs=6, width=4, seed=0)
    real, test = coloured(40, 1), coloured(50, 2)
    faithful = classification_accuracy_score(coloured(24, 3), real, test, recipe, params)
    assert faithful.generated.value > 0.9 and faithful.real.value > 0.9
    assert faithful.samples_per_class == 24 and set(faithful.real_per_class) == {"red", "blue"}
    useless = classification_accuracy_score(coloured(24, 4, noise=True), real, test, recipe, params)
    assert useless.ratio < 0.8 and useless.real == faithful.real  # the same seed, the same baseline


def test_precision_and_recall_are_left_out_where_a_set_is_too_small_for_a_manifold() -> None:
    rng = np.random.default_rng(0)
    generated, real = rng.standard_normal((12, 4)), rng.standard_normal((9, 4))
    labels, real_labels = np.repeat([0, 1, 2], 4), np.array([0] * 6 + [1] * 3)
    overall, per_class = fidelity_and_coverage(
        generated, labels, real, real_labels, ("a", "b", "c")
    )
    assert overall is not None and list(per_class) == ["a"]  # b has 3 real images, c none
    assert fidelity_and_coverage(generated[:3], labels[:3], real, real_labels, ("a",))[0] is None
