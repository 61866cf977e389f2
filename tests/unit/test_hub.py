"""The Hub folder (`tools.hub`): made from a project whose outputs the test writes through the
pipeline's own typed records, its card parsed offline by `huggingface_hub.ModelCard`; the push's
dry run and its refusals, none of which reaches a Hub."""

from __future__ import annotations

import dataclasses
import http.server
import socket
import threading
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import pytest
from huggingface_hub import EvalResult, HfApi, ModelCard
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from pipeline.classifier.evaluation import Accuracy
from pipeline.classifier.graph import ClassifierInfo
from pipeline.classifier.resnet import SavedClassifier
from pipeline.data.datasets import Dataset, Provenance
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.weights import GeneratorConfig
from pipeline.project import paths
from pipeline.quality.gates import ValidationMetrics
from pipeline.quality.recorded import Recorded
from pipeline.quality.statistics import Measurement
from pipeline.records import write_record
from pipeline.runtime.models import ModelInfo, write_info
from tests.conftest import png_bytes, random_images, run_module, tiny_dit
from tools import hub
from tools.hub_card import DATASETS

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BODY = "# A classifier and a generator of 10 classes\n\nThe card `validate` writes.\n"


def example(kind: Any, field: dataclasses.Field | None = None) -> Any:
    """A valid value of any record type: the field's default or lower bound where it has one."""
    if field is not None and field.default is not dataclasses.MISSING:
        return field.default
    low = field.metadata.get("low") if field is not None else None
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: example(hints[f.name], f) for f in dataclasses.fields(kind)})
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return example(next(a for a in args if a is not type(None)))
    if origin is dict:
        return {"cat": example(args[1])}
    if origin is tuple:
        return CLASSES[:2] if args[0] is str else tuple(example(a) for a in args if a is not ...)
    if origin is list:
        return [example(args[0])]
    return {float: 0.5 if low is None else low, int: 1 if low is None else low, str: "x",
            bool: True}[kind]  # fmt: skip


def recorded() -> Recorded:
    trained = example(Recorded).train_classifier
    return dataclasses.replace(
        example(Recorded),
        train_classifier=dataclasses.replace(
            trained, test=Accuracy(0.8349, 8349, 10_000, {}), perf=Accuracy(0.845, 169, 200, {})
        ),
    )


def validation(passed: bool = True) -> ValidationMetrics:
    judged = dataclasses.replace(
        example(ValidationMetrics).generator, samples=1000, solver="euler", steps=20,
        guidance_scale=4.0, conditional_accuracy=Measurement(0.566, 0.535, 0.596),
        frechet_distance=Measurement(4.35, 4.17, 4.86), frechet_distance_real_floor=0.27,
    )  # fmt: skip
    failing = "" if passed else "generator_frechet_distance"
    return dataclasses.replace(
        example(ValidationMetrics), passed=passed, failing=failing, generator=judged
    )


def write_onnx(path: Path, info: ModelInfo) -> None:
    """A one-node model carrying the metadata the pipeline writes; the folder never runs it."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "m",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    write_info(model, info)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def write_project(root: Path) -> Path:
    """Every output the Hub folder is made from, as the stages write them."""
    for stage in dataclasses.fields(Recorded):
        write_record(root / paths.metrics(stage.name), getattr(recorded(), stage.name))
    write_record(root / paths.metrics("validate"), validation())
    provenance = dataclasses.replace(example(Provenance), dataset="cifar10", classes=CLASSES)
    write_record(root / paths.PROVENANCE, provenance)
    (root / paths.MODEL_CARD).write_text(BODY)
    (root / paths.SAMPLE_GRID).parent.mkdir(parents=True)
    (root / paths.SAMPLE_GRID).write_bytes(png_bytes(random_images(1, size=64)[0]))
    classifier = ClassifierInfo("classifier", CLASSES, "logits", 32, 3, "NHWC", "input",
                                (0.0, 255.0), "logits")  # fmt: skip
    generator = GeneratorInfo("generator", CLASSES, "velocity", 32, 3, "NCHW",
                              ("x", "t", "y", "guidance_scale"), (-1.0, 1.0), 10)  # fmt: skip
    for variants, info in ((paths.CLASSIFIER_VARIANTS, classifier),
                           (paths.CONVERTED_VARIANTS, classifier),
                           (paths.GENERATOR_VARIANTS, generator)):  # fmt: skip
        for path in variants.values():
            write_onnx(root / path, info)
    for weights in (paths.CLASSIFIER_WEIGHTS, paths.GENERATOR_WEIGHTS):
        (root / weights).parent.mkdir(parents=True, exist_ok=True)
        save_file({"head.weight": np.arange(6, dtype=np.float32).reshape(2, 3)}, root / weights)
    write_record(root / paths.CLASSIFIER_CONFIG, example(SavedClassifier))
    write_record(root / paths.GENERATOR_CONFIG, GeneratorConfig(tiny_dit(32, 10), CLASSES))
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection this process opens fails the test."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"a network connection was opened: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def refusing_hub() -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for the Hub that refuses every token with 401, and the requests it got."""
    seen: list[str] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def refuse(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body = b'{"error": "Invalid credentials in Authorization header"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = refuse

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_command(project: Path, *args: str, **env: str) -> Any:
    """`python -m tools.hub` in the project, with the Hub's settings given and no others."""
    settings = {"HF_TOKEN": "", "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", **env}
    return run_module("tools.hub", project, *args, env=settings, timeout=300)


def expected_results() -> list[tuple]:
    return [
        ("image-classification", "uoft-cs/cifar10", "test", "accuracy", 0.8349),
        ("image-classification", "uoft-cs/cifar10", "test", "accuracy", 0.845),
        ("unconditional-image-generation", "uoft-cs/cifar10", None, "accuracy", 0.566),
        ("unconditional-image-generation", "uoft-cs/cifar10", "test", "frechet_distance", 4.35),
    ]


def facts(result: EvalResult) -> tuple:
    return (result.task_type, result.dataset_type, result.dataset_split, result.metric_type,
            result.metric_value)  # fmt: skip


def test_the_card_and_its_metadata_parse_offline_with_huggingface_hub(
    project: Path, no_network: None
) -> None:
    hub.build(Path("hub"), "resnet8-tinydit", "apache-2.0")
    card = ModelCard.load(Path("hub/README.md"))
    assert card.data.license == "apache-2.0" and card.data.library_name == "onnx"
    assert card.data.datasets == ["uoft-cs/cifar10"]
    assert {"onnx", "safetensors", "image-classification"} <= set(card.data.tags)
    assert card.data.model_name == "resnet8-tinydit"
    assert [facts(result) for result in card.data.eval_results] == expected_results()
    distance = card.data.eval_results[3]
    assert distance.metric_args["ci95_low"] == 4.17 and distance.metric_args["ci95_high"] == 4.86
    assert "not comparable with Inception FID" in distance.metric_name
    assert card.text.lstrip().startswith(BODY.splitlines()[0])
    assert "## Files in this repository" in card.text and "![The generator's" in card.text
    assert ModelCard(card.content).data.to_dict() == card.data.to_dict()


def test_without_a_perf_subset_the_card_has_no_perf_result(project: Path) -> None:
    trained = dataclasses.replace(recorded().train_classifier, perf=None)
    write_record(paths.metrics("train_classifier"), trained)
    hub.build(Path("hub"), "m", "mit")
    card = ModelCard.load(Path("hub/README.md"))
    assert [facts(result) for result in card.data.eval_results] == [
        expected_results()[i] for i in (0, 2, 3)
    ]
    assert card.data.license == "mit"


def test_the_folder_holds_each_model_in_the_onnx_layout_with_its_weights_and_config(
    project: Path,
) -> None:
    listed = dict(hub.build(Path("hub"), "m", "apache-2.0"))
    onnx_files = {f"{model}/onnx/model{suffix}.onnx" for model in ("classifier", "dit", "resnet8")
                  for suffix in ("", "_int8", "_fp16")}  # fmt: skip
    weights = {f"{model}/{name}" for model in ("classifier", "dit")
               for name in ("model.safetensors", "config.json")}  # fmt: skip
    assert set(listed) == {"README.md", "samples.png", *onnx_files, *weights}
    pairs = {"classifier/onnx/model_int8.onnx": paths.CLASSIFIER_VARIANTS["int8"],
             "resnet8/onnx/model.onnx": paths.ONNX_MODEL,
             "dit/onnx/model_fp16.onnx": paths.GENERATOR_VARIANTS["fp16"],
             "dit/model.safetensors": paths.GENERATOR_WEIGHTS,
             "dit/config.json": paths.GENERATOR_CONFIG,
             "samples.png": paths.SAMPLE_GRID}  # fmt: skip
    for name, source in pairs.items():
        assert (project / "hub" / name).read_bytes() == source.read_bytes(), name
        assert listed[name] == source.stat().st_size


def test_a_missing_input_is_named_with_dvc_repro_and_the_previous_folder_stays_whole(
    project: Path,
) -> None:
    before = hub.build(Path("hub"), "m", "apache-2.0")
    paths.GENERATOR_VARIANTS["fp16"].unlink()
    paths.PROVENANCE.unlink()
    with pytest.raises(hub.PipelineError) as error:
        hub.build(Path("hub"), "m", "apache-2.0")
    message = str(error.value)
    assert "models/quantized/dit_fp16.onnx" in message and "reports/provenance.json" in message
    assert "dvc repro" in message
    assert hub.listing(Path("hub")) == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".hub")] == []


def test_a_failure_while_writing_leaves_the_previous_folder_whole(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = hub.build(Path("hub"), "m", "apache-2.0")
    readme = Path("hub/README.md").read_bytes()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ModelCard, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        hub.build(Path("hub"), "other name", "mit")
    assert hub.listing(Path("hub")) == before
    assert Path("hub/README.md").read_bytes() == readme
    assert [p.name for p in project.iterdir() if p.name.startswith(".hub")] == []


def test_a_run_whose_gates_failed_is_not_published(project: Path) -> None:
    write_record(paths.metrics("validate"), validation(passed=False))
    with pytest.raises(hub.PipelineError, match="generator_frechet_distance failed"):
        hub.build(Path("hub"), "m", "apache-2.0")
    assert not Path("hub").exists()


def test_every_dataset_the_pipeline_learns_has_its_hub_dataset() -> None:
    assert set(typing.get_args(Dataset)) == set(DATASETS)


def test_the_dry_run_lists_every_file_with_its_size_and_sends_nothing(
    project: Path, refusing_hub: tuple[str, list[str]]
) -> None:
    endpoint, seen = refusing_hub
    result = hub_command(project, "--push", "someone/tinydit", "--dry-run", HF_ENDPOINT=endpoint)
    assert result.returncode == 0, result.stderr
    files = hub.listing(project / "hub")
    assert len(files) == 15
    assert f"would upload hub to {endpoint}/someone/tinydit, 15 files," in result.stdout
    for path, size in files:
        assert f"{size:>12,}  {path}\n" in result.stdout, path
    assert seen == []


def test_without_a_token_the_push_stops_before_anything_is_written(
    project: Path, refusing_hub: tuple[str, list[str]]
) -> None:
    endpoint, seen = refusing_hub
    result = hub_command(project, "--push", "someone/tinydit", HF_ENDPOINT=endpoint)
    assert result.returncode == 1
    assert "HF_TOKEN is not set" in result.stderr and "nothing was uploaded" in result.stderr
    assert seen == [] and not (project / "hub").exists()


def test_offline_the_push_names_the_hub_it_cannot_reach(project: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = hub_command(
        project, "--push", "someone/tinydit", HF_TOKEN="hf_x", HF_ENDPOINT=endpoint
    )
    assert result.returncode == 1
    assert f"{endpoint}/someone/tinydit: cannot reach the Hub" in result.stderr
    assert "nothing was uploaded" in result.stderr


def test_a_refused_token_is_named_and_no_repository_is_created(
    project: Path, refusing_hub: tuple[str, list[str]]
) -> None:
    endpoint, seen = refusing_hub
    result = hub_command(
        project, "--push", "someone/tinydit", HF_TOKEN="hf_x", HF_ENDPOINT=endpoint
    )
    assert result.returncode == 1
    assert "the Hub refused the upload (401" in result.stderr
    assert "GET /api/whoami-v2" in seen
    assert [request for request in seen if not request.startswith("GET ")] == []  # no write


def test_a_malformed_repository_name_is_refused() -> None:
    with pytest.raises(hub.PipelineError, match="name the repository as OWNER/NAME"):
        hub.repository("tinydit")
    with pytest.raises(hub.PipelineError, match="--push some one/tiny dit"):
        hub.repository("some one/tiny dit")


def test_the_upload_is_one_commit_leaving_the_repository_holding_exactly_the_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, dict]] = []

    def record(name: str, answer: object = None) -> Any:
        return (
            lambda self, *args, **kwargs: calls.append((name, {"args": args, **kwargs})) or answer
        )

    commit = type("Commit", (), {"commit_url": "https://hub.example/someone/tinydit/commit/1"})
    monkeypatch.setattr(HfApi, "whoami", record("whoami", {"name": "someone"}))
    monkeypatch.setattr(HfApi, "create_repo", record("create_repo"))
    monkeypatch.setattr(HfApi, "upload_folder", record("upload_folder", commit))
    assert hub.upload(Path("hub"), "someone/tinydit", "hf_x") == commit.commit_url
    assert [name for name, _ in calls] == ["whoami", "create_repo", "upload_folder"]
    assert calls[1][1] == {"args": ("someone/tinydit",), "exist_ok": True}
    uploaded = calls[2][1]
    assert uploaded["folder_path"] == Path("hub") and uploaded["repo_id"] == "someone/tinydit"
    assert uploaded["delete_patterns"] == "*"  # a file dropped from the folder goes from the Hub
