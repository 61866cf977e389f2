"""Every preset that changes a shape (data, image size, classes, patch size) runs end to end at
its own shapes, as a user runs it, with only its counts cut: every stage down to `validate`,
the registered models, the browser bundle and the Hub folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import mlflow.onnx
import onnx
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import ImageSet
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.presets import DEFAULT, PRESETS, params_keys
from pipeline.project import paths
from pipeline.quality.release import FAMILIES, registry_name
from pipeline.runtime.models import ModelInfo, read_info
from tests.tiny_pipeline import preset_project, ran
from tools.workspace import ROOT

pytestmark = pytest.mark.slow
STAGES = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def shapes(name: str) -> dict:
    """What a preset sets that shapes a graph or its data."""
    keys = params_keys(PRESETS[name])
    return {k: v for k, v in keys.items() if k.startswith("data.") or k.endswith(".patch_size")}


SHAPE_PRESETS = [name for name in PRESETS if shapes(name) != shapes(DEFAULT)]


def test_the_presets_that_change_a_shape_are_the_ones_run_here() -> None:
    assert "cat-breeds" in SHAPE_PRESETS and DEFAULT not in SHAPE_PRESETS


@pytest.mark.parametrize("name", SHAPE_PRESETS)
def test_a_preset_runs_every_stage_at_its_own_shapes_down_to_the_app_and_the_hub(
    name: str, tmp_path: Path, mirror: Path
) -> None:
    # CI keeps what it built (KEEP_TEST_PROJECTS), for the browser's tests to run on
    kept = os.environ.get("KEEP_TEST_PROJECTS")
    project = preset_project(Path(kept) / name if kept else tmp_path / "project", mirror, name)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project.env["MLFLOW_TRACKING_URI"] = store
    assert ran(project.dvc("repro").stdout) == STAGES

    params = project.params()
    test = ImageSet.load(project.path / paths.TEST_IMAGES)
    assert test.image_size == params["data"]["image_size"]
    generator = read_info(GeneratorInfo, project.path / paths.GENERATOR_ONNX)
    assert generator.image_size == test.image_size
    # every model the pipeline ships says, in its metadata, which images and classes it reads
    for family, variants in FAMILIES.items():
        for path in variants.values():
            role = GeneratorInfo if family == "generator" else ClassifierInfo
            info: ModelInfo = read_info(role, project.path / path)
            if family == "resnet8":  # the converted model keeps its CIFAR-10 at 32 px
                assert (info.image_size, len(info.class_names)) == (32, 10), path
            else:
                assert info.image_size == test.image_size, path
                assert info.class_names == test.class_names, path
    validate = project.metrics("validate")
    assert validate["passed"] is True, validate["failing"]
    assert list(validate["generator"]["conditional_accuracy_per_class"]) == list(test.class_names)
    card = (project.path / "reports/model_card.md").read_text()
    assert f"A classifier and a generator of {len(test.class_names)} classes" in card
    if params["data"]["dataset"] == "oxford_pets":  # the archives' odd files, named and skipped
        provenance = json.loads((project.path / "reports/provenance.json").read_text())
        assert provenance["unreadable"][0].startswith("images/Sphynx_0.jpg")
        # other classes than the converted model's: no gain over it to measure
        gain = validate["gates"]["trained_gain"]
        assert gain["problem"].startswith("not applicable"), gain

    # the champions are the files this run wrote
    mlflow.set_tracking_uri(store)
    for family, variants in FAMILIES.items():
        for precision, path in variants.items():
            champion = mlflow.onnx.load_model(
                f"models:/{registry_name(family, precision)}@champion"
            )
            written = onnx.load(str(project.path / path))
            assert champion.SerializeToString() == written.SerializeToString(), path
    assert MlflowClient().get_registered_model("classifier").aliases == {"champion": 1}

    bundle, hub = tmp_path / "bundle", tmp_path / "hub"
    project.run(sys.executable, "-m", "tools.web_models", "--project", str(project.path),
                "--out", str(bundle))  # fmt: skip
    manifest = json.loads((bundle / "manifest.json").read_text())["models"]
    ours = [entry for entry in manifest if entry.get("family") != "converted ResNet-8"]
    assert {entry["role"] for entry in ours} == {"generator", "classifier"}
    for entry in ours:
        assert entry["class_names"] == list(test.class_names), entry["id"]
        assert entry["image_size"] == test.image_size, entry["id"]
    project.run(sys.executable, "-m", "tools.hub", "--out", str(hub))
    card = (hub / "README.md").read_text()
    assert ", ".join(test.class_names) in card
    assert f"{test.image_size}x{test.image_size}" in card
