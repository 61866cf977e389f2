"""The browser app's model bundle: every fact from the models' own metadata, checked first."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
import yaml

from pipeline.classifier.graph import ClassifierInfo
from pipeline.errors import PipelineError
from pipeline.generator.dit import DiT
from pipeline.generator.export import export_onnx
from pipeline.generator.sampling import SampleParams
from pipeline.params import load_params
from pipeline.quality.statistics import Measurement
from pipeline.records import write_record
from pipeline.runtime.models import write_info
from tests.conftest import tiny_classifier_onnx, tiny_dit
from tools.app_sampling import AppSampling, Candidate
from tools.web_models import SAMPLING_KEYS, BundleError, Params, bundle

ROOT = Path(__file__).resolve().parents[2]

CLASSES = tuple(f"c{i}" for i in range(10))


def project_with_models(path: Path) -> Path:
    (path / "models" / "quantized").mkdir(parents=True)
    shutil.copyfile(ROOT / "params.yaml", path / "params.yaml")
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
    assert classifier["label"] == "converted ResNet-8 (fp32)"
    assert generator["label"] == "generator (fp32)"
    assert generator["class_names"] == ["cat", "dog", "ship"] and generator["null_class"] == 3
    assert generator["input_names"] == ["x", "t", "y", "guidance_scale"]
    assert generator["value_range"] == [-1.0, 1.0] and generator["layout"] == "NCHW"
    assert classifier["input_names"] == ["input"] and classifier["input_range"] == [0.0, 255.0]
    assert classifier["class_names"] == list(CLASSES) and classifier["image_size"] == 16
    written = json.loads((tmp_path / "out/manifest.json").read_text())
    assert written["models"] == entries
    sample = yaml.safe_load((ROOT / "params.yaml").read_text())["sample"]
    assert written["sampling"] == {
        "generator": "dit",
        **{key: sample[key] for key in SAMPLING_KEYS},
        "source": "params.yaml (sample)",
    }
    assert written["aspect"] == "squash"  # as params.yaml's data makes photos square
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


def app_sampling_report(project: Path, graphs: dict[str, str], sample: SampleParams) -> Candidate:
    """A report of tools.app_sampling that chose the int8 graph at 6 steps, shift 2."""
    measured = Measurement(0.7, 0.68, 0.72)
    reference = Candidate("fp32", sample.steps, 1.0, measured, measured, False)
    chosen = Candidate("int8", 6, 2.0, measured, measured, True)
    per_step = {"fp32": 0.015, "int8": 0.011}
    report = AppSampling(graphs, sample, 10, per_step, reference, [chosen], chosen, [])
    write_record(project / "reports/app_sampling.json", report)
    return chosen


def test_the_app_samples_as_the_sampling_report_chose_for_these_very_graphs(
    tmp_path: Path,
) -> None:
    project = project_with_models(tmp_path / "project")
    int8 = project / "models/quantized/dit_int8.onnx"
    shutil.copyfile(project / "models/dit.onnx", int8)  # the same graph stands in for int8
    sample = load_params(Params, project / "params.yaml").sample
    digest = hashlib.sha256(int8.read_bytes()).hexdigest()
    app_sampling_report(project, {"fp32": "0" * 64, "int8": digest}, sample)
    entries = bundle(project, tmp_path / "out")
    assert [e["id"] for e in entries][:2] == ["dit", "dit_int8"]
    sampling = json.loads((tmp_path / "out/manifest.json").read_text())["sampling"]
    assert sampling["generator"] == "dit_int8" and sampling["source"] == "reports/app_sampling.json"
    assert (sampling["steps"], sampling["time_shift"]) == (6, 2.0)
    assert sampling["guidance_scale"] == sample.guidance_scale


@pytest.mark.parametrize("stale", ["graph", "guidance"])
def test_a_sampling_report_of_other_graphs_or_guidance_is_not_used(
    tmp_path: Path, stale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_with_models(tmp_path / "project")
    shutil.copyfile(project / "models/dit.onnx", project / "models/quantized/dit_int8.onnx")
    sample = load_params(Params, project / "params.yaml").sample
    digest = hashlib.sha256((project / "models/dit.onnx").read_bytes()).hexdigest()
    if stale == "graph":
        digest = "f" * 64  # the graphs were retrained since
    else:
        sample = replace(sample, guidance_scale=sample.guidance_scale + 1)
    app_sampling_report(project, {"fp32": digest, "int8": digest}, sample)
    bundle(project, tmp_path / "out")
    sampling = json.loads((tmp_path / "out/manifest.json").read_text())["sampling"]
    assert sampling["generator"] == "dit" and sampling["source"] == "params.yaml (sample)"
    assert "rerun python -m tools.app_sampling" in capsys.readouterr().err


def test_a_malformed_sampling_report_is_named(tmp_path: Path) -> None:
    project = project_with_models(tmp_path / "project")
    (project / "reports").mkdir()
    (project / "reports/app_sampling.json").write_text('{"chosen": {}}')
    with pytest.raises(PipelineError, match=r"reports/app_sampling\.json: .*"):
        bundle(project, tmp_path / "out")
