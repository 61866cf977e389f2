"""Stage `onnx_to_torch`: ONNX to PyTorch with onnx2torch, checked against ONNX Runtime.

Also usable on its own: `python -m stages.onnx_to_torch --input m.onnx --output m.pt2`.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import onnx

from pipeline import classifier, paths
from pipeline.console import run_stage
from pipeline.datasets import ImageSet
from pipeline.files import write_json
from pipeline.params import as_dict, bounded, load_params
from pipeline.runtime import RuntimeParams
from pipeline.tracking import log_metrics, stage_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxToTorchParams:
    parity_images: int = bounded(1, 10_000)  # first N test images compared with ONNX Runtime


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    onnx_to_torch: OnnxToTorchParams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, default=paths.ONNX_MODEL, help="ONNX classifier")
    parser.add_argument("--output", type=Path, default=paths.TORCH_MODEL, help="torch.export .pt2")
    args = parser.parse_args(argv)
    params = load_params(Params)

    session = classifier.ort_session(args.input, params.runtime.threads)
    module = classifier.onnx_to_torch(onnx.load(str(args.input)))
    classifier.export_torch(module, args.output)
    reloaded = classifier.load_torch(args.output)
    parameters = sum(p.numel() for p in module.parameters()) + sum(
        b.numel() for b in module.buffers()
    )

    images = ImageSet.load(paths.TEST_SET).images[: params.onnx_to_torch.parity_images]
    batch = params.runtime.batch_size
    onnx_out = classifier.batched(classifier.ort_predict(session), images, batch)
    torch_out = classifier.batched(classifier.torch_predict(reloaded), images, batch)
    shapes = {
        "input": [classifier.BATCH_DIM, *classifier.IMAGE_SHAPE],
        "output": [classifier.BATCH_DIM, torch_out.shape[1]],
    }
    parity = classifier.parity(onnx_out, torch_out)
    log.info(
        "PyTorch (%d parameters) vs ONNX Runtime on %d images: %s", parameters, len(images), parity
    )
    if parity["argmax_agreement"] < 1.0:
        raise classifier.ModelError(
            f"{args.output}: PyTorch and ONNX Runtime disagree on "
            f"{1 - parity['argmax_agreement']:.2%} of images"
        )

    write_json(
        paths.metrics("onnx_to_torch"),
        {
            "parameters": parameters,
            "shapes": shapes,
            "parity_vs_onnx": {"images": len(images), **parity},
        },
    )
    with stage_run("onnx_to_torch", as_dict(params)) as tracker:
        log_metrics(tracker, {"parameters": parameters, "parity_vs_onnx": parity})


if __name__ == "__main__":
    run_stage(main)
