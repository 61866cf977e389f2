"""`train_classifier`: the ResNet-8 built from the converted program, trained on small data the
tests build, exported and measured; and its failure paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file

from pipeline.classifier import convert, training
from pipeline.classifier.export import export_onnx
from pipeline.classifier.graph import ClassifierInfo
from pipeline.classifier.resnet import ResNet8, ResNetConfig, converted_weights
from pipeline.classifier.torch_export import convert_file
from pipeline.classifier.training import augment, predict_torch, split_validation
from pipeline.data.images import CIFAR10_CLASSES, DatasetError, ImageSet
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import open_session, predictor, to_input
from pipeline.training.checkpoint import Checkpoint
from tests.conftest import copy_code, random_images, run_module, write_params
from tests.tiny_pipeline import tiny_params

PARAMS = tiny_params()
PARAMS["train_classifier"].update(val_images=40)
PARAMS["train_classifier"]["train"].update(epochs=3, batch_size=32, checkpoint_every=5,
                                           warmup_steps=2, threads=1)  # fmt: skip


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """models/resnet8.onnx and .pt2 converted from the mirror's MLPerf Tiny Keras model."""
    models = tmp_path_factory.mktemp("converted") / "models"
    models.mkdir()
    keras_model = convert.load_keras(mirror / "pretrainedResnet.h5")
    onnx.save(convert.keras_to_onnx(keras_model, 15, CIFAR10_CLASSES), models / "resnet8.onnx")
    convert_file(models / "resnet8.onnx", models / "resnet8.pt2")
    return models


def shapes(classes: tuple[str, ...], count: int, seed: int) -> ImageSet:
    """Images whose class is a colour of the top half: learnable in a few steps."""
    labels = np.arange(count) % len(classes)
    images = random_images(count, seed=seed)
    images[:, :16] = (labels * 255 // len(classes))[:, None, None, None]
    return ImageSet(images, labels, classes)


def project(path: Path, converted: Path, classes: tuple[str, ...] = CIFAR10_CLASSES,
            params: dict | None = None) -> Path:  # fmt: skip
    copy_code(path)
    write_params(path, params or PARAMS)
    shapes(classes, 200, 0).save(path / "data/images/train.npz")
    shapes(classes, 60, 1).save(path / "data/images/test.npz")
    shapes(CIFAR10_CLASSES, 30, 2).save(path / "data/cifar10/perf.npz")
    (path / "models").mkdir(exist_ok=True)
    for name in ("resnet8.onnx", "resnet8.pt2"):
        (path / "models" / name).write_bytes((converted / name).read_bytes())
    return path


def run_stage(path: Path) -> None:
    result = run_module("stages.train_classifier", path, own_code=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, converted: Path) -> Path:
    path = project(tmp_path_factory.mktemp("classifier"), converted)
    run_stage(path)
    return path


def test_the_converted_weights_load_into_the_module_and_give_the_converted_outputs(
    converted: Path,
) -> None:
    model = ResNet8(ResNetConfig(width=16, mirror_average=False, image_size=32, num_classes=10))
    model.load_state_dict(converted_weights(torch.export.load(converted / "resnet8.pt2")))
    images = random_images(64, seed=3)
    reference = predictor(open_session(converted / "resnet8.onnx", 1))(to_input(images))
    probabilities = torch.softmax(torch.from_numpy(predict_torch(model.eval(), images)), -1)
    np.testing.assert_allclose(probabilities.numpy(), reference, atol=1e-5)


def test_mirror_averaging_applies_when_evaluating_only() -> None:
    model = ResNet8(ResNetConfig(width=8, mirror_average=True, image_size=16, num_classes=3))
    x = torch.rand(4, 16, 16, 3) * 255
    with torch.no_grad():
        trained_view = model.train()(x)
        both = model.eval()(x)
        halves = (model.head(model.features(x)) + model.head(model.features(x.flip(2)))) / 2
    assert torch.allclose(both, halves, atol=1e-5) and not torch.allclose(both, trained_view)


def test_the_exported_graph_has_a_dynamic_batch_of_logits_and_the_metadata(tmp_path: Path) -> None:
    model = ResNet8(ResNetConfig(width=8, mirror_average=True, image_size=16, num_classes=3))
    export_onnx(model, ("a", "b", "c"), tmp_path / "m.onnx", 17)
    info = read_info(ClassifierInfo, tmp_path / "m.onnx")
    assert (info.output_name, info.output_kind, info.input_range) == ("logits", "logits", (0, 255))
    session = predictor(open_session(tmp_path / "m.onnx", 1))
    for count in (1, 5):
        images = random_images(count, seed=count, size=16)
        np.testing.assert_allclose(
            session(to_input(images)), predict_torch(model, images), atol=1e-4
        )


def test_augmentation_crops_and_mirrors_the_same_way_for_the_same_draws() -> None:
    images = torch.from_numpy(random_images(8, size=8))
    first = augment(images, 2, torch.Generator().manual_seed(0))
    again = augment(images, 2, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and first.shape == (8, 8, 8, 3)
    unchanged = augment(images, 0, torch.Generator().manual_seed(0))
    for image, out in zip(images.float(), unchanged, strict=True):  # no padding: mirrors only
        assert torch.equal(out, image) or torch.equal(out, image.flip(1))


def test_the_validation_split_is_disjoint_and_the_same_for_the_same_seed() -> None:
    data = shapes(("a", "b"), 50, 0)
    train, validation = split_validation(data, 10, seed=4)
    again, _ = split_validation(data, 10, seed=4)
    assert len(validation.labels) == 10 and len(train.labels) == 40
    assert np.array_equal(train.images, again.images)
    seen = {image.tobytes() for image in train.images}
    assert not any(image.tobytes() in seen for image in validation.images)
    with pytest.raises(DatasetError, match="train_classifier.val_images is 50"):
        split_validation(data, 50, seed=0)


def test_training_writes_weights_the_export_metrics_and_plots(trained: Path) -> None:
    metrics = json.loads((trained / "metrics/train_classifier.json").read_text())
    assert metrics["init"] == "converted" and metrics["epochs"] == 3 and metrics["steps"] == 15
    assert metrics["test"]["total"] == 60 and metrics["perf"]["total"] == 30
    assert metrics["parity_vs_torch"]["max_abs_diff"] < 1e-4
    assert metrics["parity_vs_torch"]["argmax_agreement"] == 1.0
    history = (trained / "plots/train_classifier/history.csv").read_text().splitlines()
    assert history[0] == "epoch,train_loss,val_accuracy_ema,val_accuracy_raw" and len(history) == 4
    drawn = np.load(trained / "models/classifier/drawn_indices.npz")["indices"]
    assert drawn.shape == (15, 32) and drawn.max() < 160  # only the 160 training images
    info = read_info(ClassifierInfo, trained / "models/classifier.onnx")
    assert info.class_names == CIFAR10_CLASSES and info.output_kind == "logits"


def test_the_exported_weights_are_the_ema_not_the_live_ones(trained: Path) -> None:
    checkpoint = Checkpoint.load(trained / "checkpoints/classifier/last.pt")
    exported = load_file(str(trained / "models/classifier/ema.safetensors"))
    name = "stacks.1.conv1.conv.weight"
    assert torch.equal(exported[name], checkpoint.ema[name])
    assert not torch.equal(exported[name], checkpoint.model[name])
    assert len(checkpoint.history["val_accuracy_ema"]) == 3  # evaluated once an epoch


def test_other_classes_get_a_fresh_output_layer_and_no_perf_subset(
    converted: Path, tmp_path: Path
) -> None:
    path = project(tmp_path, converted, classes=("Abyssinian", "Bengal", "Sphynx"))
    run_stage(path)
    metrics = json.loads((path / "metrics/train_classifier.json").read_text())
    assert metrics["perf"] is None
    assert load_file(str(path / "models/classifier/ema.safetensors"))["head.weight"].shape == (
        3,
        64,
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "width", 8, "train_classifier.model.width is 8, but the converted model's is 16"),
        ("train", "epochs", 0, "train_classifier.train.epochs: 0 is out of range"),
        (None, "init", "imagenet", "train_classifier.init: expected one of"),
        (None, "val_images", 500, "train_classifier.val_images is 500, but the training set"),
    ],
)
def test_bad_params_are_refused_naming_the_key(
    converted: Path, tmp_path: Path, section: str | None, key: str, value: object, message: str
) -> None:
    params = copy.deepcopy(PARAMS)
    (params["train_classifier"][section] if section else params["train_classifier"])[key] = value
    path = project(tmp_path, converted, params=params)
    result = run_module("stages.train_classifier", path, own_code=True)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert not (path / "models/classifier.onnx").exists()


def test_from_scratch_any_width_trains(converted: Path, tmp_path: Path) -> None:
    params = copy.deepcopy(PARAMS)
    params["train_classifier"].update(init="scratch")
    params["train_classifier"]["model"]["width"] = 8
    path = project(tmp_path, converted, params=params)
    run_stage(path)
    metrics = json.loads((path / "metrics/train_classifier.json").read_text())
    assert metrics["init"] == "scratch" and metrics["parameters"] < 30_000


def test_a_drawn_training_part_is_the_same_for_the_same_seed_and_all_of_it_for_0() -> None:
    rng = np.random.default_rng(0)
    part = ImageSet(rng.integers(0, 255, (50, 8, 8, 3), dtype=np.uint8),
                    np.arange(50) % 5, tuple("abcde"))  # fmt: skip
    drawn = training.draw_training(part, 20, seed=3)
    assert len(drawn.labels) == 20 and drawn.class_names == part.class_names
    assert np.array_equal(drawn.images, training.draw_training(part, 20, seed=3).images)
    assert not np.array_equal(drawn.images, training.draw_training(part, 20, seed=4).images)
    assert training.draw_training(part, 0, seed=3) is part
    assert training.draw_training(part, 500, seed=3) is part
