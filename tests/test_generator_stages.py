"""`train_dit` and `export_generator` on a tiny configuration and small data the tests build."""

from __future__ import annotations

import copy
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
import yaml
from PIL import Image
from safetensors.torch import load_file

from pipeline import trainer
from pipeline.datasets import ImageSet
from pipeline.dit import DiTConfig
from pipeline.errors import PipelineError
from pipeline.image_folders import BatchSampler, class_histogram
from pipeline.training import NonFiniteLossError, load_checkpoint
from tests.conftest import ROOT, random_images, run_module, write_params

TINY = yaml.safe_load((ROOT / "params.yaml").read_text())
TINY["train_dit"]["model"].update(width=32, depth=2, heads=2, patch_size=4)
TINY["train_dit"]["train"].update(
    steps=12, batch_size=8, warmup_steps=2, checkpoint_every=4, precision="fp32", threads=1
)
TINY["train_dit"]["sample"].update(steps=3, per_class=2)


def tiny_project(path: Path, params: dict | None = None, classes: int = 10) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    write_params(path, params or TINY)
    labels = np.arange(4 * classes) % classes
    names = tuple(f"c{i}" for i in range(classes))
    ImageSet(random_images(len(labels)), labels, names).save(path / "data/cifar10/train.npz")
    return path


def timing(path: Path) -> dict:
    return json.loads((path / "reports/timing/train_dit.json").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tiny_project(tmp_path_factory.mktemp("generator"))
    for stage in ("train_dit", "export_generator"):
        result = run_module(f"stages.{stage}", path)
        assert result.returncode == 0, result.stderr
    return path


def test_training_writes_weights_plots_card_and_metrics(trained: Path) -> None:
    metrics = json.loads((trained / "metrics/train_dit.json").read_text())
    assert metrics["steps"] == 12 and np.isfinite(metrics["final_loss"])
    config = json.loads((trained / "models/dit/config.json").read_text())
    assert config["width"] == 32 and config["class_names"][0] == "c0"
    losses = (trained / "plots/train_dit/loss.csv").read_text().splitlines()
    assert losses[0] == "step,loss" and len(losses) == 13
    grid = Image.open(trained / "plots/train_dit/samples.png")
    assert grid.size[1] > grid.size[0]  # ten class rows of two samples each
    assert (
        "class-conditional Diffusion Transformer" in (trained / "reports/model_card.md").read_text()
    )


def test_exported_weights_are_the_ema_not_the_live_ones(trained: Path) -> None:
    checkpoint = load_checkpoint(trained / "checkpoints/dit/last.pt")
    exported = load_file(str(trained / "models/dit/ema.safetensors"))
    name = "blocks.0.attn.qkv.weight"
    assert torch.equal(exported[name], checkpoint["ema"][name])
    assert not torch.equal(exported[name], checkpoint["model"][name])


def test_export_is_one_file_with_dynamic_batch_and_parity(trained: Path) -> None:
    model = onnx.load(str(trained / "models/dit.onnx"))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert [f.name for f in (trained / "models").iterdir() if f.is_file()] == ["dit.onnx"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    metrics = json.loads((trained / "metrics/export_generator.json").read_text())
    assert set(metrics["max_abs_velocity_diff"]) == {"batch_2", "batch_5"}
    assert max(metrics["max_abs_velocity_diff"].values()) < 1e-4
    assert metrics["sample_max_abs_diff"] < 1e-3 and metrics["opset"] >= 17


def test_onnx_sampler_cli_writes_pngs(trained: Path) -> None:
    result = run_module(
        "pipeline.onnx_sampler",
        trained,
        "--class-name",
        "c3",
        "--count",
        "3",
        "--steps",
        "2",
        "--out",
        "samples",
    )
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (trained / "samples").iterdir())
    assert written == ["c3_000.png", "c3_001.png", "c3_002.png"]
    assert Image.open(trained / "samples/c3_000.png").size == (32, 32)


def test_interrupted_training_resumes_and_ends_at_the_final_step(tmp_path: Path) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["train"].update(steps=300, checkpoint_every=20)
    whole = tiny_project(tmp_path / "whole", params)
    interrupted = tiny_project(tmp_path / "interrupted", params)

    command = [sys.executable, "-m", "stages.train_dit"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, cwd=interrupted, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = interrupted / "checkpoints/dit/last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.kill()  # as abrupt as a power cut
    process.wait()
    stopped_at = load_checkpoint(checkpoint)["step"]
    assert 20 <= stopped_at < 300

    for path in (interrupted, whole):
        result = run_module("stages.train_dit", path)
        assert result.returncode == 0, result.stderr
    assert timing(interrupted)["resumed_from_step"] == stopped_at
    assert json.loads((interrupted / "metrics/train_dit.json").read_text())["steps"] == 300
    # Restored RNG and optimizer state make the resumed run the same as an uninterrupted one.
    resumed = load_file(str(interrupted / "models/dit/ema.safetensors"))
    uninterrupted = load_file(str(whole / "models/dit/ema.safetensors"))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_checkpoint_from_other_params_is_not_resumed(trained: Path, tmp_path: Path) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"]["train"]["lr"] = 0.0001
    path = tiny_project(tmp_path / "p", params)
    (path / "checkpoints/dit").mkdir(parents=True)
    (path / "checkpoints/dit/last.pt").write_bytes(
        (trained / "checkpoints/dit/last.pt").read_bytes()
    )
    result = run_module("stages.train_dit", path)
    assert result.returncode == 0, result.stderr
    assert "from other params or data; starting afresh" in result.stderr
    assert timing(path)["resumed_from_step"] == 0


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_loss = trainer.flow_matching_loss

    def loss_that_explodes(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(trainer, "flow_matching_loss", loss_that_explodes)
    config = trainer.TrainConfig(**TINY["train_dit"]["train"])
    data = ImageSet(random_images(20), np.arange(20) % 10, tuple("abcdefghij"))
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(NonFiniteLossError, match="at step 6"):
        trainer.train(DiTConfig(width=32, depth=1, heads=2), config, data, checkpoint)
    assert load_checkpoint(checkpoint)["step"] == 4


def test_non_finite_loss_error_from_the_stage_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stages import train_dit

    monkeypatch.setattr(trainer, "flow_matching_loss", lambda *a, **k: torch.tensor(float("inf")))
    monkeypatch.chdir(tiny_project(tmp_path))
    with pytest.raises(PipelineError, match="Lower train_dit.train.lr") as err:
        train_dit.main()
    assert "non-finite loss inf at step 0" in str(err.value)
    assert not Path("models/dit").exists()


def test_class_balanced_draws_even_out_an_imbalanced_set() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    for balanced, expected_share in ((True, 0.5), (False, 0.9)):
        sampler = BatchSampler(labels, 64, balanced, torch.Generator().manual_seed(0))
        drawn = torch.cat([sampler.draw() for _ in range(100)]).numpy()
        histogram = class_histogram(labels, drawn, ("many", "few"))
        share = histogram["many"]["drawn"] / len(drawn)
        assert share == pytest.approx(expected_share, abs=0.03)
        assert histogram["few"]["in_data"] == 10


def test_image_folder_training_records_the_balanced_histogram(tmp_path: Path) -> None:
    folder = tmp_path / "pets"
    for name, count in (("Bengal", 12), ("Sphynx", 3)):
        (folder / name).mkdir(parents=True)
        for i, pixels in enumerate(random_images(count, seed=count, size=40)):
            Image.fromarray(pixels).save(folder / name / f"{name}_{i}.jpg")
    params = copy.deepcopy(TINY)
    params["train_dit"]["data"].update(source="imagefolder", imagefolder=str(folder))
    params["train_dit"]["train"].update(class_balanced=True, steps=50)
    path = tiny_project(tmp_path / "p", params)
    result = run_module("stages.train_dit", path)
    assert result.returncode == 0, result.stderr
    rows = (path / "plots/train_dit/class_histogram.csv").read_text().splitlines()
    counts = {
        row.split(",")[0]: (int(row.split(",")[1]), int(row.split(",")[2])) for row in rows[1:]
    }
    assert counts["Bengal"][1] == 12 and counts["Sphynx"][1] == 3
    assert counts["Sphynx"][0] / (counts["Bengal"][0] + counts["Sphynx"][0]) > 0.4
    indices = np.load(path / "models/dit/drawn_indices.npz")["indices"]
    assert indices.shape == (50, 8)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "width", "big", "train_dit.model.width: expected int"),
        ("train", "time_sampling", "cosine", "train_dit.train.time_sampling: expected one of"),
        ("train", "label_dropout", 1.5, "train_dit.train.label_dropout: 1.5 is out of range"),
        ("sample", "method", "rk4", "train_dit.sample.method: expected one of"),
    ],
)
def test_bad_train_params_are_rejected_naming_the_key(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    params = copy.deepcopy(TINY)
    params["train_dit"][section][key] = value
    result = run_module("stages.train_dit", tiny_project(tmp_path, params))
    assert result.returncode == 1
    assert message in result.stderr


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
        result = run_module("stages.export_generator", trained)
    finally:
        write_params(trained, TINY)
    assert result.returncode == 1
    assert message in result.stderr
