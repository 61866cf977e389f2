"""Stage `export_generator`: one guided velocity step of the EMA DiT to ONNX, compared with
PyTorch (the verdict is `validate`'s), and the sample grid drawn through ONNX Runtime."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import onnx

from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.generator import export, graph
from pipeline.generator.graph import ExportMetrics, GeneratorInfo
from pipeline.generator.sampling import SampleParams, save_grid
from pipeline.generator.weights import load_generator
from pipeline.project import paths
from pipeline.project.registry import log_onnx_model
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime.models import read_info, summarize
from pipeline.runtime.sessions import RuntimeParams, open_session
from pipeline.schema import bounded

log = logging.getLogger(__name__)
GRID = paths.plots("export_generator") / "samples.png"


@dataclass(frozen=True)
class ExportGeneratorParams:
    opset: int = bounded(17, 21)
    parity_batch_sizes: list[int] = bounded(2, 4096)  # dynamic batch checked at each (two+)
    seed: int = bounded(0, 2**63 - 1)


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    export_generator: ExportGeneratorParams
    sample: SampleParams  # the parity sample and the grid are drawn as the pipeline samples


def main(params: Params) -> None:
    config = params.export_generator
    if len(set(config.parity_batch_sizes)) < 2:
        raise PipelineError(
            "export_generator.parity_batch_sizes: give two sizes or more; one cannot show that "
            "the batch dimension is dynamic"
        )
    model, class_names = load_generator(paths.GENERATOR_WEIGHTS, paths.GENERATOR_CONFIG)
    with atomic_path(paths.GENERATOR_ONNX) as tmp:
        export.export_onnx(model, class_names, tmp, config.opset)
    summary = summarize(onnx.load(str(paths.GENERATOR_ONNX)))
    log.info(
        "exported %s: inputs %s, %d nodes", paths.GENERATOR_ONNX, summary.inputs, summary.nodes
    )

    session = open_session(paths.GENERATOR_ONNX, params.runtime.threads)
    info = read_info(GeneratorInfo, paths.GENERATOR_ONNX)
    velocity = {
        f"batch_{n}": export.velocity_difference(model, session, info, n, config.seed + n)
        for n in config.parity_batch_sizes
    }
    torch_images, onnx_images, sample_diff = export.sample_parity(model, session, params.sample)
    save_grid(onnx_images, class_names, GRID)
    metrics = ExportMetrics(
        opset=summary.opset,
        nodes=summary.nodes,
        velocity_max_abs_diff=max(velocity.values()),
        velocity_max_abs_diff_by_batch=velocity,
        sample_max_abs_diff=sample_diff,
        sample_pixels_equal=float(np.mean(torch_images == onnx_images)),
    )
    log.info("parity: %s", metrics)
    write_record(paths.metrics("export_generator"), metrics)
    with mlflow_run("export_generator", asdict(params)) as tracker:
        log_metrics(tracker, asdict(metrics))
        tracker.log_artifact(str(GRID))
        log_onnx_model(paths.GENERATOR_ONNX, "generator", graph.random_inputs(info, 2, config.seed))


if __name__ == "__main__":
    run_stage(main, Params)
