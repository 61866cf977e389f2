"""ONNX Runtime settings shared by every stage that runs or times an ONNX model."""

from dataclasses import dataclass

from pipeline.params import bounded


@dataclass(frozen=True)
class RuntimeParams:
    threads: int = bounded(0, 256)  # intra-op threads; 0 lets ONNX Runtime choose
    batch_size: int = bounded(1, 65_536)
