"""Pieces of a training loop: EMA, learning-rate schedule, atomic checkpoints with RNG state."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pipeline.files import atomic_path


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


def check_finite(loss: Tensor, step: int) -> None:
    """Raise NonFiniteLossError if loss is NaN or infinite (synchronises with the device)."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(f"non-finite loss {loss.item()} at step {step}")


def ema_decay(step: int, decay: float) -> float:
    """EMA decay warmed up as (1 + step) / (10 + step), capped at decay."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * live for parameters; buffers are copied."""
    ema_params = dict(ema_model.named_parameters())
    for name, param in model.named_parameters():
        ema_params[name].mul_(decay).add_(param.detach(), alpha=1 - decay)
    ema_buffers = dict(ema_model.named_buffers())
    for name, buffer in model.named_buffers():
        ema_buffers[name].copy_(buffer)


def lr_at(
    step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float
) -> float:
    """Linear warm-up to base_lr over warmup_steps, then cosine decay to min_lr at total_steps."""
    if warmup_steps < 0 or total_steps < warmup_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps, got {warmup_steps} and {total_steps}"
        )
    if step < warmup_steps:
        # step + 1 so that the very first update already has a non-zero rate
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


def rng_states(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot of every RNG as types that torch.load(weights_only=True) accepts."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # numpy arrays are not allowed by weights_only loading, so keep the keys as a tensor
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        states["generator"] = generator.get_state()
    return states


def restore_rng_states(ckpt: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore the RNG states saved by save_checkpoint (and the given generator's, if any)."""
    states = ckpt["rng"]
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np_state = states["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = states["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss"]))
    if generator is not None:
        if "generator" not in states:
            raise KeyError("checkpoint has no generator state; it was saved without a generator")
        generator.set_state(states["generator"])


_SAFE_SCALARS = (type(None), bool, int, float, str, Tensor)


def _check_loadable(value: Any, where: str) -> None:
    """Reject values that torch.load(weights_only=True) would refuse, before writing anything."""
    if isinstance(value, _SAFE_SCALARS):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} must be str or int")
            _check_loadable(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_loadable(item, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: {type(value).__name__} cannot be loaded with weights_only=True")


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: dict[str, Any],
    generator: torch.Generator | None = None,
) -> Path:
    """Write model, EMA, optimizer, step, RNG states and extra to path, atomically.

    The checkpoint is written to a temporary file in the same directory, fsynced and then
    renamed over path, so a crash leaves either the old checkpoint or the new one, never a
    truncated file. extra must hold only tensors, plain scalars, strings, lists and dicts.
    """
    _check_loadable(extra, "extra")
    path = Path(path)
    ckpt = {
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "rng": rng_states(generator),
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by save_checkpoint, refusing arbitrary pickled objects."""
    return torch.load(path, map_location=map_location, weights_only=True)
