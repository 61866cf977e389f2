"""The browser app's model bundle: every fact from the models' own metadata, checked first."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest

from pipeline.classifier.graph import ClassifierInfo
from pipeline.generator.dit import DiT
from pipeline.generator.export import export_onnx
from pipeline.runtime.models import write_info
from tests.conftest import tiny_classifier_onnx, tiny_dit
from tools.web_models import BundleError, bundle

CLASSES = tuple(f"c{i}" for i in range(10))


def project_with_models(path: Path) -> Path:
    (path / "models" / "quantized").mkdir(parents=True)
    export_onnx(DiT(tiny_dit(8, 3)).eval(), ("cat", "dog", "ship"), path / "models/dit.onnx", 17)
    classifier = onnx.load(str(tiny_classifier_onnx(path / "plain.onnx")))
    info = ClassifierInfo(
        "classifier", CLASSES, "probs", 16, 3, "NHWC", "input", (0.0, 255.0), "probabilities"
    )
    write_info(classifier, info)
    for target in ("resnet8.onnx", "quantized/resnet8_int8.onnx", "classifier.onnx",
                   "quantized/classifier_int8.onnx"):  # fmt: skip
        onnx.save(classifier, str(path / "models" / target))
    return path


def test_the_manifest_describes_each_model_from_its_metadata(tmp_path: Path) -> None:
    project = project_with_models(tmp_path / "project")
    entries = bundle(project, tmp_path / "out")
    ids = ["dit", "classifier", "classifier_int8", "resnet8", "resnet8_int8"]  # fp16: optional
    assert [e["id"] for e in entries] == ids
    generator, classifier = entries[0], entries[3]
    assert entries[1]["family"] == "trained classifier" == entries[2]["family"]
    assert classifier["label"] == "converted ResNet-8 (fp32)" and "family" not in generator
    assert generator["class_names"] == ["cat", "dog", "ship"] and generator["null_class"] == 3
    assert generator["input_names"] == ["x", "t", "y", "guidance_scale"]
    assert generator["value_range"] == [-1.0, 1.0] and generator["layout"] == "NCHW"
    assert classifier["input_names"] == ["input"] and classifier["input_range"] == [0.0, 255.0]
    assert classifier["class_names"] == list(CLASSES) and classifier["image_size"] == 16
    written = json.loads((tmp_path / "out/manifest.json").read_text())["models"]
    assert written == entries
    copy = (tmp_path / "out/resnet8.onnx").read_bytes()
    assert classifier["sha256"] == hashlib.sha256(copy).hexdigest() == entries[4]["sha256"]
    assert classifier["output_kind"] == "probabilities"


def test_a_missing_model_is_named_with_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"models/dit\.onnx: not found; run `dvc repro` first"):
        bundle(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_model_without_its_metadata_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    project = project_with_models(tmp_path / "project")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/kept.txt").write_text("the previous bundle")
    model = onnx.load(str(project / "models/dit.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(project / "models/dit.onnx"))
    with pytest.raises(BundleError, match=r"dit\.onnx: metadata.role: missing.*\(dvc repro\)"):
        bundle(project, tmp_path / "out")
    assert (tmp_path / "out/kept.txt").read_text() == "the previous bundle"


def test_metadata_that_names_inputs_the_graph_lacks_is_refused(tmp_path: Path) -> None:
    project = project_with_models(tmp_path / "project")
    model = onnx.load(str(project / "models/resnet8.onnx"))
    info = ClassifierInfo(
        "classifier", CLASSES, "probs", 16, 3, "NHWC", "pixels", (0.0, 255.0), "probabilities"
    )
    write_info(model, info)
    onnx.save(model, str(project / "models/resnet8.onnx"))
    with pytest.raises(BundleError, match=r"metadata names inputs \['pixels'\].*graph has"):
        bundle(project, tmp_path / "out")


def test_a_generator_file_where_a_classifier_belongs_is_refused(tmp_path: Path) -> None:
    project = project_with_models(tmp_path / "project")
    (project / "models/resnet8.onnx").write_bytes((project / "models/dit.onnx").read_bytes())
    with pytest.raises(
        BundleError, match=r"resnet8\.onnx: .*role is 'generator', not 'classifier'"
    ):
        bundle(project, tmp_path / "out")
