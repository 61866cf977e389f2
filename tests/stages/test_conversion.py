"""Keras -> ONNX -> PyTorch conversions on a small ResNet-like model the test builds."""

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from pipeline.classifier import convert, torch_export
from pipeline.classifier.evaluation import parity
from pipeline.classifier.graph import ClassifierInfo
from pipeline.runtime.models import ModelError, canonicalize, read_info, summarize
from pipeline.runtime.sessions import open_session, predictor, to_input
from tests.conftest import copy_code, random_images, run_module, write_params

CLASSES = tuple(f"class{i}" for i in range(10))


@pytest.fixture(scope="module")
def keras_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    skip = x
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.Add()([x, skip])
    x = keras.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def onnx_path(keras_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    onnx.save(convert.keras_to_onnx(keras_model, 15, CLASSES), path)
    return path


def test_onnx_model_has_named_input_output_and_batch_dim(onnx_path: Path) -> None:
    summary = summarize(onnx.load(onnx_path))
    assert summary.inputs == {"input": ["batch", 32, 32, 3]}
    assert summary.outputs == {"probabilities": ["batch", 10]}
    assert summary.opset == 15


def test_onnx_model_carries_what_a_reader_needs(onnx_path: Path) -> None:
    assert read_info(ClassifierInfo, onnx_path) == ClassifierInfo(
        role="classifier",
        class_names=CLASSES,
        output_name="probabilities",
        image_size=32,
        channels=3,
        layout="NHWC",
        input_name="input",
        input_range=(0.0, 255.0),
        output_kind="probabilities",
    )
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert props["class_names"].startswith('["class0", ')  # lists and numbers as JSON
    assert props["input_range"] == "[0.0, 255.0]" and props["role"] == "classifier"


def test_conversion_is_byte_identical_from_run_to_run(keras_model, onnx_path: Path) -> None:
    again = convert.keras_to_onnx(keras_model, 15, CLASSES).SerializeToString()
    assert again == onnx_path.read_bytes()


def test_canonical_names_do_not_depend_on_the_converter_names_or_order() -> None:
    def graph(names: list[str], order: list[int]) -> onnx.ModelProto:
        h = onnx.helper
        a, b, c = names
        nodes = [
            h.make_node("Relu", ["x"], [a], name=f"relu_{a}"),
            h.make_node("Neg", ["x"], [b], name=f"neg_{b}"),
            h.make_node("Add", [a, b], [c], name=f"add_{c}"),
            h.make_node("Mul", [c, "w"], ["y"], name="out"),
        ]
        weight = onnx.numpy_helper.from_array(np.array([2.0], np.float32), f"w_{a}")
        nodes[3].input[1] = weight.name
        x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
        y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
        model = h.make_model(h.make_graph([nodes[i] for i in order], "g", [x], [y], [weight]))
        canonicalize(model)
        onnx.checker.check_model(model)
        return model

    first = graph(["p:0", "q:0", "r:0"], [0, 1, 2, 3])
    second = graph(["a__12", "b__7", "c__3"], [1, 0, 2, 3])
    assert first.SerializeToString() == second.SerializeToString()
    assert [node.name for node in first.graph.node] == ["Neg_0", "Relu_1", "Add_2", "Mul_3"]


def test_onnx_matches_keras_at_two_batch_sizes(keras_model, onnx_path: Path) -> None:
    predict = predictor(open_session(onnx_path, threads=1))
    for count in (3, 17):
        images = to_input(random_images(count, seed=count))
        agreement = parity(keras_model.predict(images, verbose=0), predict(images))
        assert agreement.max_abs_diff < 1e-5
        assert agreement.argmax_agreement == 1.0


def test_torch_export_reloads_and_matches_onnx(onnx_path: Path, tmp_path: Path) -> None:
    reloaded = torch_export.convert_file(onnx_path, tmp_path / "model.pt2")
    ort_predict = predictor(open_session(onnx_path, threads=1))
    for count in (1, 5):
        images = to_input(random_images(count, seed=count))
        torch_out = torch_export.torch_predictor(reloaded)(images)
        assert torch_out.shape == (count, 10)
        assert np.abs(torch_out - ort_predict(images)).max() < 1e-5


def flatten_model(target: str) -> onnx.ModelProto:
    """(batch, 4, 2, 2) -> Reshape -> (batch, 16), its target shape from Shape -> Slice -> Concat
    (as tf2onnx sometimes leaves Flatten) or, with target="input", a graph input."""
    h = onnx.helper
    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 4, 2, 2])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", "features"])
    inputs = [x]
    constants = [
        onnx.numpy_helper.from_array(np.array(v, np.int64), name)
        for name, v in (("starts", [0]), ("ends", [1]), ("rest", [16]))
    ]
    nodes = [h.make_node("Reshape", ["x", "target"], ["y"], name="flatten")]
    if target == "input":
        inputs.append(h.make_tensor_value_info("target", onnx.TensorProto.INT64, [2]))
    else:
        nodes[:0] = [
            h.make_node("Shape", ["x"], ["shape"]),
            h.make_node("Slice", ["shape", "starts", "ends"], ["batch"]),
            h.make_node("Concat", ["batch", "rest"], ["target"], axis=0),
        ]
    graph = h.make_graph(nodes, "flatten", inputs, [y], constants)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 15)], ir_version=8)


def test_reshape_computed_at_run_time_is_frozen_and_exports(tmp_path: Path) -> None:
    model = flatten_model("computed")
    images = np.random.default_rng(0).normal(size=(3, 4, 2, 2)).astype(np.float32)
    before = onnxruntime_run(model, images)
    convert.freeze_reshapes(model)
    onnx.checker.check_model(model, full_check=True)
    assert [node.op_type for node in model.graph.node] == ["Reshape"]
    assert [t.name for t in model.graph.initializer] == ["y_shape"]
    assert onnx.numpy_helper.to_array(model.graph.initializer[0]).tolist() == [-1, 16]
    np.testing.assert_array_equal(onnxruntime_run(model, images), before)
    program = torch.export.export(
        torch_export.onnx_to_torch(model),
        (torch.zeros(2, 4, 2, 2),),
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    np.testing.assert_array_equal(program.module()(torch.from_numpy(images)).numpy(), before)


def test_reshape_torch_export_cannot_trace_is_named() -> None:
    model = flatten_model("input")
    convert.freeze_reshapes(model)  # nothing to infer from: the target is an input
    assert model.graph.node[0].input[1] == "target"
    with pytest.raises(ModelError, match="flatten.*target shape .* at run time"):
        torch_export.onnx_to_torch(model)


def onnxruntime_run(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": images})[0]


def test_parity_reports_disagreement() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8]])
    candidate = np.array([[0.9, 0.1], [0.6, 0.4]])
    agreement = parity(reference, candidate)
    assert agreement.images == 2 and agreement.argmax_agreement == 0.5
    assert agreement.max_abs_diff == pytest.approx(0.4)


def test_unloadable_onnx_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="broken.onnx: ONNX Runtime cannot load it"):
        open_session(path, threads=1)


STAGE_PARAMS = {
    "runtime": {"threads": 1, "batch_size": 8},
    "keras_to_onnx": {"opset": 15, "parity_images": 4, "batch_size": 4},
    "onnx_eval": {"throughput_batch_sizes": [2], "throughput_rounds": 2},
    "onnx_to_torch": {"parity_images": 4},
}


@pytest.mark.parametrize("stage", ["keras_to_onnx", "onnx_eval", "onnx_to_torch"])
def test_stage_without_its_input_model_names_the_file(stage: str, tmp_path: Path) -> None:
    write_params(tmp_path, STAGE_PARAMS)
    result = run_module(f"stages.{stage}", tmp_path)
    assert result.returncode == 1
    assert re.search(r"(models|data)/\S+: .*not found; run the", result.stderr), result.stderr
    assert not (tmp_path / "metrics").exists()


def test_standalone_conversion_writes_only_its_output(onnx_path: Path, tmp_path: Path) -> None:
    """Outside the pipeline: no params, no data, no metrics, no tracking run."""
    result = run_module(
        "pipeline.classifier.torch_export",
        tmp_path,
        "--input",
        str(onnx_path),
        "--output",
        "out/model.pt2",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/never.db"},
    )
    assert result.returncode == 0, result.stderr
    assert "argmax_agreement=1.0" in result.stderr
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["out/model.pt2"]


def test_the_program_has_the_same_bytes_whichever_folders_hold_the_code_and_the_output(
    onnx_path: Path, tmp_path: Path
) -> None:
    """A copy of the code in another folder, writing elsewhere under another name: the program
    records no path, so a fresh clone does not rerun what depends on it."""
    written = []
    for place in ("a", "elsewhere/b"):
        folder = tmp_path / place
        copy_code(folder)
        out = folder / f"out-{place.replace('/', '-')}.pt2"
        result = run_module("pipeline.classifier.torch_export", folder, "--input", str(onnx_path),
                            "--output", str(out), own_code=True)  # fmt: skip
        assert result.returncode == 0, result.stderr
        written.append(out.read_bytes())
    assert written[0] == written[1]
    assert b"site-packages" not in written[0] and str(tmp_path).encode() not in written[0]


def test_standalone_conversion_of_a_missing_file_names_it(tmp_path: Path) -> None:
    result = run_module(
        "pipeline.classifier.torch_export", tmp_path, "--input", "nope.onnx", "--output", "m.pt2"
    )
    assert result.returncode == 1
    assert "nope.onnx: ONNX model not found" in result.stderr
    assert not (tmp_path / "m.pt2").exists()


def test_out_of_range_opset_is_rejected_naming_the_key(tmp_path: Path) -> None:
    write_params(
        tmp_path, {**STAGE_PARAMS, "keras_to_onnx": {**STAGE_PARAMS["keras_to_onnx"], "opset": 99}}
    )
    result = run_module("stages.keras_to_onnx", tmp_path)
    assert result.returncode == 1
    assert "keras_to_onnx.opset: 99 is out of range [13, 21]" in result.stderr
