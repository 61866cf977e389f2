"""The ONNX classifier as a PyTorch program (onnx2torch, saved with `torch.export`).

Standalone, it converts any such classifier and checks it against ONNX Runtime on random
images, writing nothing but its output:

    python -m pipeline.classifier.torch_export --input model.onnx --output model.pt2
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

import numpy as np
import onnx
import onnx2torch  # before TensorFlow: torchvision, which it imports, crashes if loaded after TF
import torch

from pipeline.classifier.evaluation import parity
from pipeline.errors import run_main
from pipeline.files import atomic_open, require_file
from pipeline.runtime.models import ModelError
from pipeline.runtime.sessions import Predict, open_session, predictor

log = logging.getLogger(__name__)


def onnx_to_torch(model: onnx.ModelProto) -> torch.fx.GraphModule:
    """Convert with onnx2torch, in eval mode, with constant-shape reshapes made export-friendly."""
    from onnx2torch.node_converters.reshape import OnnxReshape

    module = onnx2torch.convert(model).eval()
    graph = module.graph
    for node in list(graph.nodes):
        # OnnxReshape branches on the shape tensor's values, which torch.export cannot trace.
        if node.op != "call_module" or not isinstance(
            module.get_submodule(node.target), OnnxReshape
        ):
            continue
        source, shape_node = node.args
        if shape_node.op != "get_attr":
            raise ModelError(
                f"reshape {node.target} takes its target shape from the graph at run time, "
                "which torch.export cannot trace; convert with a constant shape"
            )
        shape = tuple(int(s) for s in module.get_buffer(shape_node.target))
        if 0 in shape:
            raise ModelError(
                f"reshape {node.target} copies a dimension (0 in {shape}); unsupported for export"
            )
        with graph.inserting_before(node):
            node.replace_all_uses_with(graph.call_function(torch.reshape, (source, shape)))
        graph.erase_node(node)
    graph.eliminate_dead_code()
    module.recompile()
    return module


def input_shape(model: onnx.ModelProto) -> tuple[int, ...]:
    """The shape of one input example, without its batch dimension."""
    dims = model.graph.input[0].type.tensor_type.shape.dim[1:]
    if not all(d.dim_value > 0 for d in dims):
        raise ModelError("the classifier's input must have fixed sizes past the batch dimension")
    return tuple(d.dim_value for d in dims)


def export_torch(
    module: torch.nn.Module, example_shape: tuple[int, ...], path: Path, max_batch: int = 65_536
) -> None:
    """Save a `torch.export` program with a dynamic batch: loading it runs no pickled code. The
    bytes depend on the model alone, not on the folders of the code or the Python environment."""
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    example = torch.zeros(2, *example_shape)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    for node in program.graph.nodes:
        node.meta.pop("stack_trace", None)  # source lines under absolute paths
    archive = io.BytesIO()  # a file-like target: the archive's folder is not named after a path
    torch.export.save(program, archive)
    with atomic_open(path, "wb") as out:
        out.write(archive.getvalue())


def load_torch(path: Path) -> torch.nn.Module:
    require_file(path, "PyTorch program")
    return torch.export.load(path).module()


def torch_predictor(module: torch.nn.Module) -> Predict:
    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).numpy()

    return predict


def convert_file(source: Path, target: Path) -> torch.nn.Module:
    """ONNX file to `torch.export` file; returns the reloaded program's module."""
    model = onnx.load(str(require_file(source, "ONNX model")))
    export_torch(onnx_to_torch(model), input_shape(model), target)
    return load_torch(target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, required=True, help="ONNX image classifier")
    parser.add_argument("--output", type=Path, required=True, help="torch.export .pt2 to write")
    parser.add_argument("--images", type=int, default=64, help="random images for the check")
    args = parser.parse_args(argv)
    module = convert_file(args.input, args.output)
    shape = input_shape(onnx.load(str(args.input)))
    images = np.random.default_rng(0).uniform(0, 255, (args.images, *shape)).astype(np.float32)
    reference = predictor(open_session(args.input, threads=0))(images)
    agreement = parity(reference, torch_predictor(module)(images))
    log.info("%s written; against ONNX Runtime on random images: %s", args.output, agreement)


if __name__ == "__main__":
    run_main(main)
