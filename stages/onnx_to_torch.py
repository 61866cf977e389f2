"""Stage `onnx_to_torch`: ONNX to PyTorch with onnx2torch, compared with ONNX Runtime.

The verdict on the comparison is `validate`'s; to convert a model outside the pipeline, use
`python -m pipeline.classifier.torch_export --input m.onnx --output m.pt2`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.classifier.evaluation import OnnxToTorchMetrics, parity
from pipeline.classifier.torch_export import convert_file, torch_predictor
from pipeline.data.images import ImageSet
from pipeline.project import paths
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime.models import BATCH_DIM
from pipeline.runtime.sessions import RuntimeParams, batched, open_session, predictor
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxToTorchParams:
    parity_images: int = bounded(1, 10_000)  # first N test images compared with ONNX Runtime


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    onnx_to_torch: OnnxToTorchParams


def main(params: Params) -> None:
    session = open_session(paths.ONNX_MODEL, params.runtime.threads)
    module = convert_file(paths.ONNX_MODEL, paths.TORCH_MODEL)
    parameters = sum(p.numel() for p in module.parameters()) + sum(
        b.numel() for b in module.buffers()
    )

    images = ImageSet.load(paths.CIFAR10_TEST).images[: params.onnx_to_torch.parity_images]
    batch = params.runtime.batch_size
    onnx_out = batched(predictor(session), images, batch)
    torch_out = batched(torch_predictor(module), images, batch)
    agreement = parity(onnx_out, torch_out)
    log.info(
        "PyTorch (%d parameters) vs ONNX Runtime on %d images: %s",
        parameters,
        len(images),
        agreement,
    )
    shapes = {
        "input": [BATCH_DIM, *images.shape[1:]],
        "output": [BATCH_DIM, torch_out.shape[1]],
    }
    metrics = OnnxToTorchMetrics(parameters=parameters, shapes=shapes, parity_vs_onnx=agreement)
    write_record(paths.metrics("onnx_to_torch"), metrics)
    with mlflow_run("onnx_to_torch", asdict(params)) as tracker:
        log_metrics(tracker, {"parameters": parameters, "parity_vs_onnx": asdict(agreement)})


if __name__ == "__main__":
    run_stage(main, Params)
