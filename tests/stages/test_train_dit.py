"""`train_dit` and `export_generator` on a tiny configuration and small data the tests build.

Each tiny project holds its own copy of the code and dvc.yaml: a checkpoint is resumed only by
a run of the same declared code, data and params, and some tests change the code.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pipeline.classifier.graph import classifier_info
from pipeline.classifier.resnet import ResNet8, ResNetConfig, SavedClassifier
from pipeline.data.images import ImageSet
from pipeline.generator import training
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.training import DiTTrainParams, FlowMatchingTask
from pipeline.params import load_params
from pipeline.records import write_record
from pipeline.runtime.models import read_info, write_info
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.loop import NonFiniteLossError, train
from pipeline.training.weights import save_weights
from tests.conftest import (
    copy_code,
    random_images,
    run_module,
    tiny_classifier_onnx,
    tiny_dit,
    write_params,
)
from tests.tiny_pipeline import tiny_params

TINY = tiny_params()
TINY["train_dit"]["train"].update(
    steps=12, batch_size=8, warmup_steps=2, checkpoint_every=4, precision="fp32", threads=1
)


def save_classifier(project: Path, names: tuple[str, ...]) -> None:
    config = ResNetConfig(width=4, mirror_average=True, image_size=32, num_classes=len(names))
    torch.manual_seed(0)
    save_weights(ResNet8(config), project / "models/classifier/ema.safetensors")
    write_record(project / "models/classifier/config.json", SavedClassifier(config, names))


def tiny_project(
    path: Path, params: dict | None = None, classes: int = 10, judged: bool = False
) -> Path:
    """A project with `classes` classes of random images, and a held-out classifier (16 px)
    that knows their names where `judged`, else ten others."""
    copy_code(path)
    write_params(path, params or TINY)
    labels = np.arange(4 * classes) % classes
    names = tuple(f"c{i}" for i in range(classes))
    ImageSet(random_images(len(labels)), labels, names).save(path / "data/images/train.npz")
    (path / "models").mkdir(exist_ok=True)
    judge = onnx.load(str(tiny_classifier_onnx(path / "models/resnet8.onnx")))
    known = names if judged else tuple(f"other{i}" for i in range(10))
    write_info(judge, classifier_info(known, 16, "probs", "probabilities"))
    onnx.save(judge, str(path / "models/resnet8.onnx"))
    save_classifier(path, names)  # REPA's teacher, where it is on
    return path


def run_stage(stage: str, path: Path) -> subprocess.CompletedProcess:
    return run_module(f"stages.{stage}", path, own_code=True)


def timing(path: Path) -> dict:
    return json.loads((path / "reports/timing/train_dit.json").read_text())


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tiny_project(tmp_path_factory.mktemp("generator"))
    for stage in ("train_dit", "export_generator"):
        result = run_stage(stage, path)
        assert result.returncode == 0, result.stderr
    return path


def test_training_writes_weights_record_plots_and_metrics(trained: Path) -> None:
    metrics = json.loads((trained / "metrics/train_dit.json").read_text())
    assert metrics["steps"] == 12 and np.isfinite(metrics["final_loss"])
    saved = json.loads((trained / "models/dit/config.json").read_text())
    assert saved["config"]["width"] == 32 and saved["class_names"][0] == "c0"
    record = json.loads((trained / "models/dit/training.json").read_text())
    assert record["train"]["steps"] == 12 and record["result"]["steps"] == 12
    assert record["data"] == {"path": "data/images/train.npz", "images": 40}
    losses = (trained / "plots/train_dit/loss.csv").read_text().splitlines()
    assert losses[0] == "step,loss" and len(losses) == 13
    assert timing(trained)["resumed_from_step"] == 0 and timing(trained)["processes"] == 1


def grids(path: Path) -> list[str]:
    return sorted(p.name for p in (path / "plots/train_dit/progress").iterdir())


def test_grids_along_the_way_leave_the_training_as_it_was(trained: Path, tmp_path: Path) -> None:
    assert grids(trained) == ["step_0000010.png", "step_0000012.png"]  # every 10, and the last
    grid = np.asarray(Image.open(trained / "plots/train_dit/progress/step_0000012.png"))
    assert grid.shape[0] > grid.shape[1]  # ten labelled rows of one image
    # classes no held-out classifier knows: grids, unscored
    scores = (trained / "plots/train_dit/progress.csv").read_text().split()
    assert scores == ["step,held_out_accuracy"]
    assert 0 <= timing(trained)["evaluation_s"] <= timing(trained)["wall_s"]  # to 0.1 s

    params = copy.deepcopy(TINY)
    params["train_dit"]["progress"]["every"] = 0
    project = tiny_project(tmp_path / "p", params)
    stale = project / "plots/train_dit/progress/step_0000999.png"  # an earlier run's
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert grids(project) == [] and timing(project)["evaluation_s"] == 0
    # the grids draw from their own noise: the run's random draws, so its weights, are the same
    without = load_file(str(project / "models/dit/ema.safetensors"))
    drawn = load_file(str(trained / "models/dit/ema.safetensors"))
    assert all(torch.equal(without[k], drawn[k]) for k in drawn)


def test_a_held_out_classifier_of_the_same_classes_scores_the_grids(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p", judged=True)  # at 16 px: the grids are resized
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    header, *rows = (project / "plots/train_dit/progress.csv").read_text().split()
    steps, scores = zip(*(row.split(",") for row in rows), strict=True)
    assert header == "step,held_out_accuracy" and steps == ("10", "12")
    assert all((10 * float(score)).is_integer() for score in scores)  # a share of 10 images
    assert "the held-out classifier names" in result.stderr


def test_repa_trains_a_dit_that_exports_without_its_projector(
    trained: Path, tmp_path: Path
) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["repa"].update(weight=0.5, depth=1, projector_width=16)
    project = tiny_project(tmp_path / "p", params)
    save_classifier(project, tuple(f"c{i}" for i in range(10)))
    for stage in ("train_dit", "export_generator"):
        result = run_stage(stage, project)
        assert result.returncode == 0, result.stderr
    aligned = load_file(str(project / "models/dit/ema.safetensors"))
    plain = load_file(str(trained / "models/dit/ema.safetensors"))
    assert aligned.keys() == plain.keys()  # the DiT alone
    assert not all(torch.equal(aligned[k], plain[k]) for k in plain)  # but taught otherwise

    save_classifier(project, tuple(f"d{i}" for i in range(10)))  # another data set's classifier
    result = run_stage("train_dit", project)
    assert result.returncode == 1
    assert (
        "the classifier knows ['d0'" in result.stderr and "rerun train_classifier" in result.stderr
    )


def test_exported_weights_are_the_ema_not_the_live_ones(trained: Path) -> None:
    checkpoint = Checkpoint.load(trained / "checkpoints/dit/last.pt")
    exported = load_file(str(trained / "models/dit/ema.safetensors"))
    name = "blocks.0.attn.qkv.weight"
    assert torch.equal(exported[name], checkpoint.ema[name])
    assert not torch.equal(exported[name], checkpoint.model[name])
    assert checkpoint.finished is True


def test_export_is_one_file_with_dynamic_batch_metadata_and_parity(trained: Path) -> None:
    model = onnx.load(str(trained / "models/dit.onnx"))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    written = {f.name for f in (trained / "models").iterdir() if f.is_file()}
    assert written == {"dit.onnx", "resnet8.onnx"}  # no external data beside it
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    info = read_info(GeneratorInfo, trained / "models/dit.onnx")
    assert info.class_names == tuple(f"c{i}" for i in range(10)) and info.null_class == 10
    metrics = json.loads((trained / "metrics/export_generator.json").read_text())
    assert set(metrics["velocity_max_abs_diff_by_batch"]) == {"batch_2", "batch_5"}
    assert metrics["velocity_max_abs_diff"] < 1e-4
    assert metrics["sample_max_abs_diff"] < 1e-3 and metrics["opset"] >= 17


def test_the_sample_grid_has_a_labelled_row_per_class(trained: Path) -> None:
    grid = np.asarray(Image.open(trained / "plots/export_generator/samples.png"))
    assert grid.shape[0] > grid.shape[1]  # ten class rows of two samples each
    label_column = grid[:, :20]
    assert (label_column < 128).any()  # the class names are written in dark ink on white


def test_a_second_export_writes_the_same_bytes(trained: Path) -> None:
    before = md5(trained / "models/dit.onnx")
    result = run_stage("export_generator", trained)
    assert result.returncode == 0, result.stderr
    assert md5(trained / "models/dit.onnx") == before


def test_onnx_sampler_cli_writes_pngs_and_raw_samples_from_given_noise(trained: Path) -> None:
    noise = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.save(trained / "noise.npy", noise)
    arguments = ["--class-name", "c3", "--steps", "2", "--noise", "noise.npy"]
    result = run_module(
        "pipeline.generator.sampling", trained, *arguments, "--out", "out", "--raw-out", "raw.npy"
    )
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (trained / "out").iterdir())
    assert written == ["c3_000.png", "c3_001.png", "c3_002.png"]
    assert Image.open(trained / "out/c3_000.png").size == (32, 32)
    raw = np.load(trained / "raw.npy")
    assert raw.shape == noise.shape and not np.array_equal(raw, noise)
    result = run_module("pipeline.generator.sampling", trained, "--class-name", "zebra")
    assert result.returncode == 1 and "choose a class among" in result.stderr


def test_interrupted_training_resumes_and_ends_where_an_uninterrupted_run_ends(
    tmp_path: Path,
) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["train"].update(steps=300, checkpoint_every=20)
    whole = tiny_project(tmp_path / "whole", params)
    interrupted = tiny_project(tmp_path / "interrupted", params)

    command = [sys.executable, "-m", "stages.train_dit"]
    env = {**os.environ, "PYTHONPATH": str(interrupted)}
    process = subprocess.Popen(
        command, cwd=interrupted, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = interrupted / "checkpoints/dit/last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.kill()  # as abrupt as a power cut
    process.wait()
    stopped_at = Checkpoint.load(checkpoint).step
    assert 20 <= stopped_at < 300

    for path in (interrupted, whole):
        result = run_stage("train_dit", path)
        assert result.returncode == 0, result.stderr
    assert timing(interrupted)["resumed_from_step"] == stopped_at
    # the grids the stopped run drew are kept, and are the uninterrupted run's, byte for byte
    assert grids(interrupted) == grids(whole) and len(grids(whole)) == 30
    for name in grids(whole):
        assert md5(interrupted / "plots/train_dit/progress" / name) == md5(
            whole / "plots/train_dit/progress" / name
        )
    assert json.loads((interrupted / "metrics/train_dit.json").read_text())["steps"] == 300
    # Restored RNG and optimizer state make the resumed run the same as an uninterrupted one.
    resumed = load_file(str(interrupted / "models/dit/ema.safetensors"))
    uninterrupted = load_file(str(whole / "models/dit/ema.safetensors"))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def unfinished_copy(trained: Path, path: Path, params: dict | None = None) -> Path:
    """A tiny project holding `trained`'s checkpoint marked unfinished: resumable as it is."""
    project = tiny_project(path, params)
    state = Checkpoint.load(trained / "checkpoints/dit/last.pt")
    dataclasses.replace(state, finished=False).save(project / "checkpoints/dit/last.pt")
    return project


def test_an_unfinished_run_of_the_same_inputs_is_resumed(trained: Path, tmp_path: Path) -> None:
    project = unfinished_copy(trained, tmp_path / "p")
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert "resuming from step 12" in result.stderr
    assert timing(project)["resumed_from_step"] == 12


def test_a_code_change_retrains_from_step_zero(trained: Path, tmp_path: Path) -> None:
    project = unfinished_copy(trained, tmp_path / "p")
    with open(project / "pipeline/generator/flow.py", "a") as code:
        code.write("# a comment changes the declared code\n")
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert "of other code, params or data; training from step 0" in result.stderr
    assert timing(project)["resumed_from_step"] == 0


def test_new_image_content_with_the_same_labels_retrains_from_step_zero(
    trained: Path, tmp_path: Path
) -> None:
    project = unfinished_copy(trained, tmp_path / "p")
    data = ImageSet.load(project / "data/images/train.npz")
    ImageSet(255 - data.images, data.labels, data.class_names).save(
        project / "data/images/train.npz"
    )
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert timing(project)["resumed_from_step"] == 0


def test_a_param_change_retrains_from_step_zero(trained: Path, tmp_path: Path) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["train"]["lr"] = 0.0001
    project = unfinished_copy(trained, tmp_path / "p", params)
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert timing(project)["resumed_from_step"] == 0


def test_a_finished_run_is_never_resumed_and_trains_again_the_same(
    trained: Path, tmp_path: Path
) -> None:
    project = tiny_project(tmp_path / "p")
    (project / "checkpoints/dit").mkdir(parents=True)
    (project / "checkpoints/dit/last.pt").write_bytes(
        (trained / "checkpoints/dit/last.pt").read_bytes()
    )
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert "a finished run; training anew from step 0" in result.stderr
    assert timing(project)["resumed_from_step"] == 0
    again = load_file(str(project / "models/dit/ema.safetensors"))
    first = load_file(str(trained / "models/dit/ema.safetensors"))
    assert all(torch.equal(again[k], first[k]) for k in first)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_loss = training.flow_matching_loss

    def loss_that_explodes(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(training, "flow_matching_loss", loss_that_explodes)
    params = DiTTrainParams(**TINY["train_dit"]["train"])
    data = ImageSet(random_images(20), np.arange(20) % 10, tuple("abcdefghij"))
    task = FlowMatchingTask(tiny_dit(32, 10, depth=1), params, data)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(NonFiniteLossError, match="at step 6"):
        train(task, params, params.steps, checkpoint, "inputs")
    assert Checkpoint.load(checkpoint).step == 4


def test_non_finite_loss_error_from_the_stage_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stages import train_dit

    monkeypatch.setattr(training, "flow_matching_loss", lambda *a, **k: torch.tensor(float("inf")))
    monkeypatch.chdir(tiny_project(tmp_path))
    with pytest.raises(NonFiniteLossError, match="Lower train_dit.train.lr") as err:
        train_dit.main(load_params(train_dit.Params))
    assert "non-finite loss inf at step 0" in str(err.value)
    assert not Path("models/dit").exists()


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "width", "big", "train_dit.model.width: expected int"),
        ("train", "time_sampling", "cosine", "train_dit.train.time_sampling: expected one of"),
        ("train", "label_dropout", 1.5, "train_dit.train.label_dropout: 1.5 is out of range"),
        ("distributed", "procs_per_node", 0, "train_dit.distributed.procs_per_node: 0 is out"),
        ("model", "heads", 3, "DiT width (32) must be divisible by heads (3)"),
    ],
)
def test_bad_train_params_are_rejected_naming_the_key(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"][section][key] = value
    result = run_stage("train_dit", tiny_project(tmp_path, params))
    assert result.returncode == 1
    assert message in result.stderr


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path: Path) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["train"]["batch_size"] = 7
    project = tiny_project(tmp_path, params)
    env = {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "2"}  # as torchrun would set them
    result = run_module("stages.train_dit", project, env=env, own_code=True)
    assert result.returncode == 1
    assert "train_dit.train.batch_size 7 does not split evenly over 2 processes" in result.stderr


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([1, 4], "export_generator.parity_batch_sizes[0]: 1 is out of range [2, 4096]"),
        ([4, 4], "export_generator.parity_batch_sizes: give two sizes or more"),
    ],
)
def test_export_needs_two_parity_batch_sizes_of_two_or_more(
    trained: Path, sizes: list[int], message: str
) -> None:
    params = copy.deepcopy(TINY)
    params["export_generator"]["parity_batch_sizes"] = sizes
    write_params(trained, params)
    try:
        result = run_stage("export_generator", trained)
    finally:
        write_params(trained, TINY)
    assert result.returncode == 1
    assert message in result.stderr
