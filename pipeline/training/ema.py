"""An exponential moving average of a model's weights, with DiT's warm-up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn


def ema_decay(step: int, decay: float) -> float:
    """EMA decay warmed up as (1 + step) / (10 + step), capped at decay."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """The averaged parameters of a model (its buffers are left as the model has them).

    `applied_to` swaps the average into the live model for an evaluation and restores the raw
    weights after; `copy_to` keeps it there, for export.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.names = sorted(name for name, _ in model.named_parameters())
        self.average = [p.detach().clone() for p in self._parameters(model)]

    def _parameters(self, model: nn.Module) -> list[Tensor]:
        named = dict(model.named_parameters())
        return [named[name].detach() for name in self.names]

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """average = d * average + (1 - d) * live, d warmed up by the 0-based `step`."""
        weight = 1.0 - ema_decay(step, self.decay)
        torch._foreach_lerp_(self.average, self._parameters(model), weight)  # one kernel for all

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        torch._foreach_copy_(self._parameters(model), self.average)

    @contextlib.contextmanager
    def applied_to(self, model: nn.Module) -> Iterator[nn.Module]:
        """The model with the averaged weights for the block, its own weights back after."""
        raw = [p.clone() for p in self._parameters(model)]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self._parameters(model), raw)

    def state_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.average, strict=True))

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.average = [state[name].clone() for name in self.names]
