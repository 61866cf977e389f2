"""Where a run computes: the device, and bf16 autocast where the hardware has bf16 units."""

from __future__ import annotations

import contextlib

import torch

from pipeline.errors import PipelineError
from pipeline.training.distributed import World
from pipeline.training.params import Device, Precision


def resolve_device(device: Device, world: World) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise PipelineError("train.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", world.local_rank)
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 or AMX); elsewhere bf16 autocast is slower."""
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:
        return False


def resolve_precision(precision: Precision, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
