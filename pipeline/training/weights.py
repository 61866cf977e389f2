"""Trained weights on disk: safetensors (loading runs no pickled code), written atomically."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from pipeline.files import atomic_path, require_file


def save_weights(model: nn.Module, path: Path) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.cpu().state_dict().items()}, str(tmp))


def load_weights(model: nn.Module, path: Path, what: str) -> nn.Module:
    """`model` (built from the configuration saved beside the weights) with the weights loaded."""
    model.load_state_dict(load_file(str(require_file(path, what))))
    return model.eval()
