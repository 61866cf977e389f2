"""The DVC contract, proven by running DVC for real on a copy of the project with tiny params.

One copy is shared by the tests; after each test it goes back to the commit it started from, so a
failing test leaves the next one a clean workspace.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from pipeline.quality.gates import GATES
from tests.conftest import image_bytes, photo, write_photos
from tests.tiny_pipeline import ran, tiny_project
from tools.workspace import ROOT, Project

pytestmark = pytest.mark.slow
DVC_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
STAGES = tuple(DVC_STAGES)
CLASSIFIER_BRANCH = ("keras_to_onnx", "onnx_eval", "onnx_to_torch", "train_classifier")
GENERATOR_BRANCH = ("train_dit", "export_generator")
QUALITY_METRICS = tuple(f"metrics/{s}.json" for s in STAGES[1:] if "metrics" in DVC_STAGES[s])
# Files that must come out byte for byte the same from the same inputs.
STABLE_OUTPUTS = (
    "data/cifar10/train.npz",
    "data/cifar10/test.npz",
    "data/cifar10/perf.npz",
    "data/images/train.npz",
    "data/images/test.npz",
    "models/resnet8.onnx",
    "models/classifier.onnx",
    "models/classifier/ema.safetensors",
    "models/quantized/classifier_int8.onnx",
    "models/quantized/resnet8_int8.onnx",
    "models/quantized/resnet8_fp16.onnx",
    "models/dit/ema.safetensors",
    "models/dit/config.json",
    "models/dit/drawn_indices.npz",
    "models/dit.onnx",
    "models/quantized/dit_int8.onnx",
    "models/quantized/dit_fp16.onnx",
)
ALL_GATES_FAIL = {
    "perf_accuracy_min": 0.99,
    "conversion_max_abs_diff_max": 0.0,
    "int8_accuracy_drop_max": -1.0,
    "classifier_bytes_max": 1,
    "classifier_int8_bytes_max": 1,
    "trained_accuracy_min": 1.0,
    "trained_gain_min": 1.0,
    "trained_int8_accuracy_drop_max": -1.0,
    "generator_bytes_per_parameter_max": 4.0,
    "generator_export_velocity_diff_max": 0.0,
    "generator_export_sample_diff_max": 0.0,
    "generator_int8_velocity_error_max": 0.0,
    "generator_fp16_velocity_error_max": 0.0,
    "conditional_accuracy_min": 1.0,
    "held_out_accuracy_min": 1.0,
    "frechet_distance_max": 0.0,
    "cas_ratio_min": 10.0,
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Project:
    # CI keeps it (KEEP_TEST_PROJECTS): each test puts it back as its first run left it, the
    # state the browser's tests then run on
    kept = os.environ.get("KEEP_TEST_PROJECTS")
    path = Path(kept) / "tiny" if kept else tmp_path_factory.mktemp("project")
    project = tiny_project(path, mirror)
    project.first_repro = project.dvc("repro")
    project.commit("first run")
    return project


@pytest.fixture(autouse=True)
def restored(project: Project) -> Iterator[None]:
    start = project.head()
    yield
    project.reset(start)


def test_repro_runs_every_stage(project: Project) -> None:
    assert ran(project.first_repro.stdout) == set(STAGES)
    assert project.metrics("validate")["passed"] is True


def test_classifier_metrics_match_the_mirror_reference(project: Project) -> None:
    evaluation = project.metrics("onnx_eval")
    assert evaluation["perf"]["correct"] == 171 and evaluation["perf"]["total"] == 200
    assert evaluation["perf"]["accuracy"] == 0.855
    assert evaluation["test"]["accuracy"] == 0.7548
    conversion = project.metrics("keras_to_onnx")["parity_vs_keras"]
    assert conversion["argmax_agreement"] == 1.0 and conversion["max_abs_diff"] < 1e-4
    torch_parity = project.metrics("onnx_to_torch")["parity_vs_onnx"]
    assert torch_parity["argmax_agreement"] == 1.0 and torch_parity["max_abs_diff"] < 1e-4


def test_second_repro_runs_no_stage(project: Project) -> None:
    second = project.dvc("repro")
    assert ran(second.stdout) == set()
    assert "up to date" in project.dvc("status").stdout


def test_a_forced_conversion_gives_the_same_bytes_and_reruns_nothing_after_it(
    project: Project,
) -> None:
    before = md5(project.path / "models/resnet8.onnx")
    forced = project.dvc("repro", "-f", "keras_to_onnx", "--single-item")
    assert ran(forced.stdout) == {"keras_to_onnx"}
    assert md5(project.path / "models/resnet8.onnx") == before
    assert ran(project.dvc("repro").stdout) == set()


def test_a_forced_retrain_trains_from_step_zero_to_the_same_weights(project: Project) -> None:
    before = md5(project.path / "models/dit/ema.safetensors")
    forced = project.dvc("repro", "-f", "train_dit", "--single-item")
    assert "a finished run; training anew from step 0" in forced.stderr + forced.stdout
    timing = json.loads((project.path / "reports/timing/train_dit.json").read_text())
    assert timing["resumed_from_step"] == 0
    assert md5(project.path / "models/dit/ema.safetensors") == before


def test_a_failing_gate_fails_repro_and_names_the_gate(project: Project) -> None:
    params = project.params()
    params["validate"]["gates"]["perf_accuracy_min"] = 0.9
    project.write_params(params)
    result = project.dvc("repro", check=False)
    assert result.returncode != 0
    assert ran(result.stdout) == {"validate"}
    assert "quality gates failed: classifier_perf_accuracy" in result.stderr + result.stdout
    verdict = project.metrics("validate")["gates"]["classifier_perf_accuracy"]
    assert verdict == {
        "value": 0.855, "threshold": 0.9, "rule": ">=", "passed": False, "problem": ""
    }  # fmt: skip


def test_every_gate_can_fail_and_each_failure_is_recorded_and_reported(project: Project) -> None:
    """Thresholds no output meets; and conversions that disagree, as a broken converter's would
    be recorded (agreement is at its maximum of 1.0 here, so no threshold can fail it)."""
    for stage, key in (
        ("keras_to_onnx", "parity_vs_keras"),
        ("onnx_to_torch", "parity_vs_onnx"),
        ("train_classifier", "parity_vs_torch"),
    ):
        metrics = project.metrics(stage)
        metrics[key]["argmax_agreement"] = 0.999
        (project.path / f"metrics/{stage}.json").write_text(json.dumps(metrics))
    params = project.params()
    params["validate"]["gates"].update(ALL_GATES_FAIL)
    project.write_params(params)
    result = project.dvc("repro", "--single-item", "validate", check=False)
    assert result.returncode != 0
    verdicts = project.metrics("validate")["gates"]
    assert len(verdicts) == len(GATES)
    failing = re.search(r"quality gates failed: ([\w, ]+);", result.stderr + result.stdout)
    assert failing and set(failing.group(1).split(", ")) == set(verdicts)
    report = (project.path / "reports/validation.md").read_text()
    for name, verdict in verdicts.items():
        assert verdict["passed"] is False and verdict["value"] is not None, name
        assert re.search(rf"\| `{name}` \| [^|]+ \| [^|]+ \| \*\*FAIL\*\* \|", report), name


def test_a_folder_of_own_photos_goes_from_dvc_add_to_the_app_and_more_photos_rerun_it(
    project: Project, tmp_path: Path
) -> None:
    """The README's path: photos in data/raw/<class>/, `dvc add`, one experiment, the bundle."""
    photos = project.path / "data/raw"
    project.git("rm", "-r", "-q", "--cached", "data/raw")
    write_photos(photos, {"fox": 12, "owl": 12, "yak": 12}, seed=7)
    (photos / "owl" / "scan.jpg").write_bytes(image_bytes(photo(90, seed=99), "JPEG", "CMYK"))
    (photos / "yak" / "broken.jpg").write_bytes(b"not a photo")
    project.dvc("add", "data/raw")
    project.commit("the photos, tracked with DVC")
    folder = {"data.dataset": "folder", "train_classifier.val_images": 3,
              "validate.enforce": False}  # fmt: skip
    result = project.dvc("exp", "run", *[p for k, v in folder.items() for p in ("-S", f"{k}={v}")])
    assert {"download", "train_classifier", "train_dit", "validate"} <= ran(result.stdout)
    assert "keras_to_onnx" not in ran(result.stdout)  # the converted model's data did not change
    provenance = json.loads((project.path / "reports/provenance.json").read_text())
    assert provenance["classes"] == ["fox", "owl", "yak"]
    # a fifth of each class's distinct files held out: 12 foxes -> 2, 13 owls and 13 yaks -> 3
    assert len(provenance["held_out"]) == 2 + 3 + 3 and provenance["unreadable"][0].startswith(
        "data/raw/yak/broken.jpg: "  # relative: the file keeps no trace of the folder it ran in
    )
    project.run(sys.executable, "-m", "tools.web_models", "--project", str(project.path),
                "--out", str(tmp_path / "bundle"))  # fmt: skip
    manifest = json.loads((tmp_path / "bundle/manifest.json").read_text())["models"]
    assert [e["class_names"] for e in manifest if e["id"] == "dit"] == [["fox", "owl", "yak"]]

    write_photos(photos / "more", {"fox": 1})  # one more photo: download must rerun
    (photos / "fox" / "new.jpg").write_bytes((photos / "more/fox/000.jpg").read_bytes())
    shutil.rmtree(photos / "more")
    project.dvc("add", "data/raw")
    assert "download" in project.dvc("status").stdout


def test_the_pet_dataset_offline_without_a_mirror_entry_names_both_archives(
    project: Project,
) -> None:
    result = project.dvc("exp", "run", "-S", "data.dataset=oxford_pets", check=False)
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "the dataset needs images.tar.gz and annotations.tar.gz" in output
    assert "DATA_MIRROR" in output


def test_a_training_change_on_two_processes_reruns_only_the_generator_side(
    project: Project,
) -> None:
    steps = ["-S", "train_dit.train.steps=21", "-S", "train_dit.distributed.procs_per_node=2"]
    result = project.dvc("exp", "run", *steps)
    assert ran(result.stdout) == {*GENERATOR_BRANCH, "quantize", "validate", "register"}
    assert project.metrics("train_dit")["steps"] == 21
    timing = json.loads((project.path / "reports/timing/train_dit.json").read_text())
    assert timing["processes"] == 2 and timing["resumed_from_step"] == 0
    assert "Data and pipelines are up to date." in project.dvc("status").stdout


def test_a_sampling_change_retrains_nothing_and_requantizes_nothing(project: Project) -> None:
    result = project.dvc("exp", "run", "-S", "sample.guidance_scale=2.0")
    assert ran(result.stdout) == {"export_generator", "validate", "register"}
    assert project.metrics("validate")["generator"]["guidance_scale"] == 2.0


def test_opset_change_reruns_the_classifier_side_and_the_generator_s_training(
    project: Project,
) -> None:
    result = project.dvc("exp", "run", "-S", "keras_to_onnx.opset=16")
    # train_dit's progress grids are scored by the converted model, so it trains again, to the
    # same weights: the export after it does not rerun. validate reruns if a number it reads moved
    assert (
        {*CLASSIFIER_BRANCH, "train_dit", "quantize", "register"}
        <= ran(result.stdout)
        <= {*CLASSIFIER_BRANCH, "train_dit", "quantize", "validate", "register"}
    )


def vega_plots(project: Project) -> set[str]:
    """Every plot dvc.yaml declares that DVC draws with vega (the rest are images)."""
    declared = yaml.safe_load((project.path / "dvc.yaml").read_text())
    entries = [*declared.get("plots", [])]
    entries += [entry for stage in declared["stages"].values() for entry in stage.get("plots", [])]
    names = {next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries}
    images = {name for name in names if (project.path / name).is_dir()}  # folders of grids
    return {name for name in names - images if not name.endswith((".png", ".jpg", ".svg"))}


def review(project: Project, base: str) -> str:
    project.run(sys.executable, "-m", "tools.review", "--base", base)
    return (project.path / "review/review.md").read_text()


def test_metrics_diff_and_review_flag_a_real_change_and_find_none_in_a_rerun(
    project: Project,
) -> None:
    params = project.params()
    params["quantize"]["per_channel"] = False
    # per-tensor 7-bit weights lose one to two points, on both classifiers: the gates are not
    # what this test is about
    params["validate"]["gates"]["int8_accuracy_drop_max"] = 0.05
    params["validate"]["gates"]["trained_int8_accuracy_drop_max"] = 0.05
    project.write_params(params)
    project.dvc("repro")
    project.commit("per-tensor int8 weights")
    diff = json.loads(project.dvc("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert "converted.int8.bytes" in diff["metrics/quantize.json"]
    assert "metrics/onnx_eval.json" not in diff and "metrics/train_dit.json" not in diff
    report = review(project, "HEAD~1")
    assert "| `params.yaml: quantize.per_channel` | True | False |" in report
    assert re.search(
        r"\| `metrics/quantize.json: converted.int8.bytes` \|.*\| \*\*changed\*\* \(exact\) \|",
        report,
    )
    assert "metrics/onnx_eval.json" not in report and "metrics/train_dit.json" not in report
    assert "| `classifier_perf_accuracy` | pass | pass |" in report
    samples = r"!\[(base|this change): plots/export_generator/samples.png\]\(([^)]+)\)"
    grids = dict(re.findall(samples, report))
    assert set(grids) == {"base", "this change"}
    assert all((project.path / "review" / image).is_file() for image in grids.values())
    charts = re.findall(r"!\[(base|this change): ([^\]]+)\]\((charts/[^)]+)\)", report)
    assert {plot for _, plot, _ in charts} == vega_plots(project)
    assert len(charts) == 2 * len(vega_plots(project))  # each plot, on both sides
    for _, _, image in charts:
        assert (project.path / "review" / image).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # The same inputs again: training and judging rerun, and nothing moves.
    rerun = project.dvc("repro", "-f", "--single-item", "train_dit", "validate")
    assert ran(rerun.stdout) == {"train_dit", "validate"}
    report = review(project, "HEAD")
    assert "No metric changed." in report and "## Params\n\nNo change." in report


def test_queued_experiments_run_in_parallel_and_one_that_fails_its_gates_keeps_its_row(
    project: Project,
) -> None:
    """Queued experiments run in temporary copies elsewhere: a relative DATA_MIRROR is taken from
    the project, as the README writes it; both experiments rerun `download` to prove it, one of
    them on a subset of the classes, which both models learn and the judge names. With
    validate.enforce off, an experiment whose gates fail succeeds and records which failed."""
    relative = os.path.relpath(project.env["DATA_MIRROR"], project.path)
    queue = Project(project.path, Path(project.env["DATA_MIRROR"]), {"DATA_MIRROR": relative})
    subset = ["-S", "data.classes=[cat, ship]", "-S", "train_dit.train.seed=1"]
    queue.dvc("exp", "run", "--queue", *subset)
    failing = ["-S", "validate.enforce=false", "-S", "validate.gates.perf_accuracy_min=0.9"]
    queue.dvc("exp", "run", "--queue", "-S", "download.timeout_s=119", *failing)
    queue.dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        status = queue.dvc("queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(5)
    queue.dvc("queue", "stop", check=False)
    assert status.count("Success") == 2, (
        status + queue.dvc("queue", "logs", "-a", check=False).stdout
    )
    shown = json.loads(queue.dvc("exp", "show", "--json").stdout)
    assert {1} <= set(find_values(shown, "train_dit", "train", "seed"))
    assert 119 in set(find_values(shown, "download", "timeout_s"))
    verdicts = find_values(shown, "metrics", "metrics/validate.json", "data")
    assert {(v["passed"], v["failing"]) for v in verdicts} >= {
        (True, ""),
        (False, "classifier_perf_accuracy"),
    }
    judged = [v["generator"] for v in verdicts]
    assert {"samples": 10, "classes": ["cat", "ship"]} in [
        {"samples": j["samples"], "classes": list(j["conditional_accuracy_per_class"])}
        for j in judged
    ]
    # the perf subset has ten classes: a run on two has no perf figure (`exp show` drops nulls)
    trained = find_values(shown, "metrics", "metrics/train_classifier.json", "data")
    assert [t.get("perf") is None for t in trained].count(True) == 1, trained


def find_values(tree: object, *keys: str) -> list:
    """Every value at the nested `keys` path anywhere inside a JSON tree."""
    found = []
    if isinstance(tree, dict):
        node = tree
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found.append(node)
        children = tree.values()
    else:
        children = tree if isinstance(tree, list) else []
    for child in children:
        found += find_values(child, *keys)
    return found


def test_push_then_pull_into_a_fresh_clone_restores_every_output(
    project: Project, tmp_path: Path
) -> None:
    project.dvc("remote", "add", "-d", "local", str(tmp_path / "remote"))
    project.commit("add a remote")
    project.dvc("push")
    for name in ("classifier", "generator"):  # a version, registered as GTO and DVC Studio do
        project.git("tag", "-a", f"{name}@v1.0.0", "-m", f"Registering {name} v1.0.0")
    clone = project.clone(tmp_path / "clone")
    clone.env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'clone.db'}"  # a store of its own
    clone.dvc("pull")
    for output in ("models/resnet8.pt2", *STABLE_OUTPUTS):
        assert (clone.path / output).read_bytes() == (project.path / output).read_bytes(), output

    # The clone's store registers what passed on the next repro, tied to dvc.lock; once.
    assert ran(clone.dvc("repro").stdout) == {"register"}
    assert ran(clone.dvc("repro").stdout) == set()
    assert "up to date" in clone.dvc("status").stdout
    client = MlflowClient(tracking_uri=clone.env["MLFLOW_TRACKING_URI"])
    locked = yaml.safe_load((clone.path / "dvc.lock").read_text())["stages"]
    [entry] = [
        o for o in locked["train_classifier"]["outs"] if o["path"] == "models/classifier.onnx"
    ]
    champion = client.get_model_version_by_alias("classifier", "champion")
    assert champion.tags["dvc_md5"] == entry["md5"]
    assert len(client.search_model_versions("name = 'classifier'")) == 1

    # DVC's model registry: a model by its artifact name, fetched from a clone of the repository
    for name, path in (("classifier", "models/classifier.onnx"), ("generator", "models/dit.onnx")):
        out = tmp_path / "artifacts" / f"{name}.onnx"
        clone.dvc("artifacts", "get", str(clone.path), name, "-o", str(out))
        assert out.read_bytes() == (project.path / path).read_bytes(), name


def test_a_run_from_clean_gives_the_same_bytes_and_quality_metrics(
    project: Project, tmp_path: Path
) -> None:
    clone = project.clone(tmp_path / "clone")
    # A fresh clone has no cache and no checkpoint, but has the metrics git tracks: a plain
    # repro would rightly skip the stages whose only outputs those are, so force every stage.
    result = clone.dvc("repro", "--force")
    assert ran(result.stdout) == set(STAGES)
    for name in QUALITY_METRICS:
        assert (clone.path / name).read_text() == (project.path / name).read_text(), name
    for output in STABLE_OUTPUTS:
        assert md5(clone.path / output) == md5(project.path / output), output
