"""ONNX model files: what they hold (summary, metadata), and canonical names so that the same
graph always serialises to the same bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import onnx

from pipeline.errors import PipelineError
from pipeline.files import require_file
from pipeline.schema import SchemaError, parse

Info = TypeVar("Info", bound="ModelInfo")
BATCH_DIM = "batch"  # the name every exported graph gives its batch axis


class ModelError(PipelineError):
    """A model file is missing, unreadable, or not the shape the pipeline expects."""


@dataclass(frozen=True)
class ModelSummary:
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    nodes: int
    parameters: int
    opset: int


def summarize(model: onnx.ModelProto) -> ModelSummary:
    def shapes(values) -> dict[str, list[int | str]]:
        return {
            v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in values
        }

    parameters = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return ModelSummary(
        shapes(model.graph.input),
        shapes(model.graph.output),
        len(model.graph.node),
        parameters,
        opset,
    )


@dataclass(frozen=True)
class ModelInfo:
    """What a reader of a model file needs to know, kept in the file's metadata_props: each role
    (classifier, generator) extends it with its own facts."""

    ROLE: ClassVar[str] = ""  # what `role` says in a model of this kind

    role: str
    class_names: tuple[str, ...]
    output_name: str
    image_size: int
    channels: int
    layout: Literal["NHWC", "NCHW"]

    def __post_init__(self) -> None:
        if self.role != self.ROLE:
            raise ModelError(f"metadata role is {self.role!r}, not {self.ROLE!r}")


def write_info(model: onnx.ModelProto, info: ModelInfo) -> None:
    """The info into metadata_props: strings as they are, anything else as JSON."""
    values = dataclasses.asdict(info)
    props = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    onnx.helper.set_model_props(model, props)


def copy_info(source: Path, target: onnx.ModelProto) -> None:
    """Give `target` the metadata_props of the model file `source`, as they are."""
    model = onnx.load(str(source), load_external_data=False)
    onnx.helper.set_model_props(target, {p.key: p.value for p in model.metadata_props})


def read_info(schema: type[Info], source: Path | onnx.ModelProto) -> Info:
    """A model's metadata_props as the typed record `schema`; a missing or malformed key names the
    file and says to rerun the stage that writes it."""
    if isinstance(source, onnx.ModelProto):
        model, name = source, "model"
    else:
        model = onnx.load(str(require_file(source, "ONNX model")), load_external_data=False)
        name = str(source)
    props = {prop.key: prop.value for prop in model.metadata_props}
    if "role" in props and props["role"] != schema.ROLE:
        raise ModelError(f"{name}: metadata role is {props['role']!r}, not {schema.ROLE!r}")
    hints = typing.get_type_hints(schema)
    values = {}
    try:
        for field in dataclasses.fields(schema):
            if field.name in props:
                raw = props[field.name]
                values[field.name] = raw if _is_text(hints[field.name]) else json.loads(raw)
        return parse(schema, values, where="metadata")
    except (SchemaError, json.JSONDecodeError) as err:
        raise ModelError(
            f"{name}: {err}; the file was written by other code, rerun the stage that writes it "
            "(dvc repro)"
        ) from None


def _is_text(kind: Any) -> bool:
    literal = typing.get_origin(kind) is Literal
    return kind is str or (literal and all(isinstance(a, str) for a in typing.get_args(kind)))


def remove_dead_nodes(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    graph = model.graph
    needed = {value.name for value in graph.output}
    live = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    live.reverse()
    del graph.node[:]
    graph.node.extend(live)
    kept = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def canonicalize(model: onnx.ModelProto) -> None:
    """Order nodes and name nodes, tensors and initializers from the graph's structure alone.

    Converters name things with run-time counters and visit nodes in varying order, so the same
    graph serialises to different bytes on every run. Here nodes are ordered topologically, ties
    broken by what a node computes (op, attributes, inputs), and named `<Op>_<position>`; their
    outputs `<node>_out<k>` and constants `<consumer>_in<k>`. Graph inputs and outputs keep
    their names.
    """
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    constant_digest = {
        name: hashlib.sha256(tensor.SerializeToString()).hexdigest()
        for name, tensor in initializers.items()
    }
    outputs = {value.name for value in graph.output}
    names = {value.name: value.name for value in graph.input}  # old tensor name -> new
    available = set(names) | set(initializers) | {""}
    pending = list(graph.node)

    def structure(node: onnx.NodeProto) -> tuple:
        inputs = tuple(names.get(name) or constant_digest.get(name, name) for name in node.input)
        attributes = tuple(sorted((a.name, a.SerializeToString()) for a in node.attribute))
        return node.op_type, node.domain, inputs, attributes

    ordered = []
    while pending:
        ready = [node for node in pending if available.issuperset(node.input)]
        if not ready:
            raise ModelError("graph has a cycle or an input no node produces; cannot order it")
        node = min(ready, key=structure)
        pending.remove(node)
        node.name = f"{node.op_type}_{len(ordered)}"
        for k, name in enumerate(node.input):
            if name in initializers and name not in names:
                names[name] = f"{node.name}_in{k}"
        for k, name in enumerate(node.output):
            names[name] = name if name in outputs or not name else f"{node.name}_out{k}"
            available.add(name)
        node.doc_string = ""
        ordered.append(node)

    for node in ordered:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]
    del graph.node[:]
    graph.node.extend(ordered)
    for tensor in graph.initializer:
        tensor.name = names.get(tensor.name, tensor.name)
    tensors = sorted(graph.initializer, key=lambda tensor: tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    infos = [info for info in graph.value_info if info.name in names]
    for info in infos:
        info.name = names[info.name]
    del graph.value_info[:]
    graph.value_info.extend(sorted(infos, key=lambda info: info.name))
