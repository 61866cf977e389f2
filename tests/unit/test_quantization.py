"""Tests for pipeline.quantization on tiny ONNX models built here with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.classifier.graph import ClassifierInfo
from pipeline.errors import PipelineError
from pipeline.runtime.models import read_info, write_info
from pipeline.runtime.quantization import (
    convert_fp16,
    quantize_classifier_int8,
    quantize_dynamic_matmul,
)
from tests.conftest import tiny_classifier_onnx

OPSET = [helper.make_opsetid("", 15)]


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def _tiny_transformer(path: Path) -> Path:
    """Conv patch embedding -> MatMul/Softmax attention-like block -> MatMul head, dynamic batch."""
    rng = np.random.default_rng(1)
    d = 32
    inits = [
        _init("wp", rng.normal(0, 0.2, (d, 3, 4, 4))),
        _init("wq", rng.normal(0, 0.2, (d, d))),
        _init("wk", rng.normal(0, 0.2, (d, d))),
        _init("wv", rng.normal(0, 0.2, (d, d))),
        _init("wo", rng.normal(0, 0.2, (d, 8))),
        numpy_helper.from_array(np.array([0, d, -1], dtype=np.int64), "tok_shape"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wp"], ["patch"], strides=[4, 4]),
        helper.make_node("Reshape", ["patch", "tok_shape"], ["tok_t"]),
        helper.make_node("Transpose", ["tok_t"], ["tok"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["tok", "wq"], ["q"]),
        helper.make_node("MatMul", ["tok", "wk"], ["k"]),
        helper.make_node("MatMul", ["tok", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["attn"], axis=-1),
        helper.make_node("MatMul", ["attn", "v"], ["ctx"]),
        helper.make_node("MatMul", ["ctx", "wo"], ["out"]),
    ]
    for i, node in enumerate(nodes):
        node.name = f"{node.op_type}_{i}"  # as every exporter names them
    graph = helper.make_graph(
        nodes,
        "tiny_transformer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 16, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)  # ORT 1.31 reads IR <= 13
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 16, 16, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier_onnx(tmp_path_factory.mktemp("cls") / "fp32.onnx")


@pytest.fixture(scope="module")
def int8_classifier(classifier: Path) -> Path:
    out = classifier.parent / "int8.onnx"
    return quantize_classifier_int8(classifier, out, _images(64, seed=1), per_channel=True)


def test_int8_runs_and_agrees_with_fp32(classifier: Path, int8_classifier: Path) -> None:
    x = _images(200, seed=2)
    ref = _session(classifier).run(None, {"input": x})[0]
    got = _session(int8_classifier).run(None, {"input": x})[0]
    assert got.shape == (200, 10) and got.dtype == np.float32
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-4)  # still a softmax
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_int8_is_really_quantized(int8_classifier: Path) -> None:
    model = onnx.load(str(int8_classifier))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ format
    weights = [i for i in model.graph.initializer if i.data_type == TensorProto.INT8]
    assert len(weights) >= 3  # both convs and the dense layer


def test_int8_weights_fit_7_bits_so_every_x86_cpu_computes_the_same(int8_classifier: Path) -> None:
    model = onnx.load(str(int8_classifier))
    weights = [
        numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == TensorProto.INT8
    ]
    assert weights
    assert all(np.abs(w.astype(np.int16)).max() <= 64 for w in weights)  # symmetric 7 bits


def test_int8_softmax_stays_float(int8_classifier: Path) -> None:
    model = onnx.load(str(int8_classifier))
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers = {i: n for n in model.graph.node for i in n.input}
    (softmax,) = [n for n in model.graph.node if n.op_type == "Softmax"]
    feeder = producers[softmax.input[0]]
    assert feeder.op_type not in {"QuantizeLinear", "DequantizeLinear"}
    assert softmax.output[0] not in consumers  # nothing (no QuantizeLinear) after it
    assert softmax.output[0] == model.graph.output[0].name
    quantized = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert softmax.input[0] not in quantized and softmax.output[0] not in quantized


def test_int8_per_tensor_also_works(classifier: Path, tmp_path: Path) -> None:
    out = quantize_classifier_int8(
        classifier, tmp_path / "pt.onnx", _images(32, seed=3), per_channel=False
    )
    x = _images(100, seed=4)
    ref = _session(classifier).run(None, {"input": x})[0]
    got = _session(out).run(None, {"input": x})[0]
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.85


def test_fp16_keeps_float32_io(classifier: Path, tmp_path: Path) -> None:
    out = convert_fp16(classifier, tmp_path / "fp16.onnx")
    model = onnx.load(str(out))
    for value in [*model.graph.input, *model.graph.output]:
        assert value.type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    x = _images(50, seed=5)
    ref = _session(classifier).run(None, {"input": x})[0]
    got = _session(out).run(None, {"input": x})[0]
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() < 2e-2


def test_dynamic_matmul_only(tmp_path: Path) -> None:
    src = _tiny_transformer(tmp_path / "gen.onnx")
    out = quantize_dynamic_matmul(src, tmp_path / "gen_int8.onnx")
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    assert "ConvInteger" not in ops and "Conv" in ops
    # q, k, v in int8; the two attention products and the output projection stay float
    assert [n.op_type for n in model.graph.node].count("MatMulInteger") == 3
    assert [n.op_type for n in model.graph.node].count("MatMul") == 3
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"  # dynamic batch kept
    ref_sess, q_sess = _session(src), _session(out)
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, 3, 16, 16)).astype(np.float32)
        ref = ref_sess.run(None, {"x": x})[0]
        got = q_sess.run(None, {"x": x})[0]
        assert got.shape == (batch, 16, 8)
        assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.1


def test_dynamic_matmul_refuses_a_model_with_nothing_to_quantise(
    classifier: Path, tmp_path: Path
) -> None:
    with pytest.raises(PipelineError, match="weight MatMuls"):
        quantize_dynamic_matmul(classifier, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("func", [convert_fp16, quantize_dynamic_matmul])
def test_missing_input_names_path(func, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.onnx"
    with pytest.raises(PipelineError, match="nope"):
        func(missing, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_missing_input_int8_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.onnx"
    with pytest.raises(PipelineError, match="absent.onnx"):
        quantize_classifier_int8(missing, tmp_path / "o.onnx", _images(4, 0), per_channel=True)


def test_output_written_atomically(classifier: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "sub"
    convert_fp16(classifier, out_dir / "m.onnx")
    assert [p.name for p in out_dir.iterdir()] == ["m.onnx"]  # no temp file left behind


def test_int8_softmax_fed_by_one_of_several_convs(tmp_path: Path) -> None:
    """A Conv head feeding Softmax stays float; the other Conv is still quantised."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="body", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w2"], ["logits"], name="head"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "seg",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        [
            _init("w1", rng.normal(0, 0.3, (8, 3, 3, 3))),
            _init("w2", rng.normal(0, 0.3, (4, 8, 1, 1))),
        ],
    )
    src = tmp_path / "seg.onnx"
    onnx.save(helper.make_model(graph, opset_imports=OPSET, ir_version=8), str(src))
    calib = rng.normal(size=(16, 3, 8, 8)).astype(np.float32)
    model = onnx.load(
        str(quantize_classifier_int8(src, tmp_path / "q.onnx", calib, per_channel=True))
    )
    producers = {o: n for n in model.graph.node for o in n.output}
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    assert producers[convs["body"].input[0]].op_type == "DequantizeLinear"
    floats = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    assert convs["head"].input[1] in floats  # head weights left float, not DequantizeLinear
    assert producers["logits"].op_type == "Conv"


@pytest.mark.parametrize("variant", ["int8", "fp16", "dynamic"])
def test_quantised_copies_keep_metadata_and_the_same_bytes_every_run(
    classifier: Path, tmp_path: Path, variant: str
) -> None:
    source = tmp_path / "tagged.onnx"
    model = onnx.load(
        str(classifier if variant != "dynamic" else _tiny_transformer(tmp_path / "g.onnx"))
    )
    info = ClassifierInfo(
        "classifier", ("a", "b"), "out", 8, 3, "NHWC", "x", (0.0, 255.0), "probabilities"
    )
    write_info(model, info)
    onnx.save(model, str(source))
    runs = {
        "int8": lambda out: quantize_classifier_int8(source, out, _images(32, 3), per_channel=True),
        "fp16": lambda out: convert_fp16(source, out),
        "dynamic": lambda out: quantize_dynamic_matmul(source, out),
    }
    first, second = runs[variant](tmp_path / "a.onnx"), runs[variant](tmp_path / "b.onnx")
    assert first.read_bytes() == second.read_bytes()
    assert read_info(ClassifierInfo, first) == info
