"""Rectified flow (flow matching): the training loss and the ODE solvers that sample with it.

Convention: t=0 is pure noise x0 ~ N(0, I), t=1 is data x1, x_t = (1 - t) x0 + t x1, and the
velocity to predict is v = x1 - x0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

TimeMode = Literal["uniform", "logit_normal"]
Solver = Literal["euler", "heun"]
# velocity_fn(x (N, ...), t (N,)) -> velocity shaped like x
VelocityFn = Callable[[Tensor, Tensor], Tensor]
# model(x_t (N, ...), t (N,), y (N,)) -> velocity shaped like x_t, e.g. a DiT
VelocityModel = Callable[[Tensor, Tensor, Tensor], Tensor]


def sample_time(n: int, mode: TimeMode, generator: torch.Generator) -> Tensor:
    """Draw n flow times in (0, 1): uniform, or logit-normal (sigmoid of N(0, 1))."""
    if mode == "uniform":
        return torch.rand(n, generator=generator, device=generator.device)
    if mode == "logit_normal":
        return torch.sigmoid(torch.randn(n, generator=generator, device=generator.device))
    raise ValueError(f"unknown time mode {mode!r}; expected 'uniform' or 'logit_normal'")


@dataclass(frozen=True)
class FlowDraw:
    """The randomness of one training step: noise (N, C, H, W), times (N,), label drops (N,)."""

    noise: Tensor
    t: Tensor
    drop: Tensor

    def shard(self, part: slice) -> FlowDraw:
        return FlowDraw(self.noise[part], self.t[part], self.drop[part])


def draw(
    shape: tuple[int, ...],
    time_mode: TimeMode,
    label_dropout: float,
    generator: torch.Generator,
) -> FlowDraw:
    """Noise, then times, then label drops, all from `generator`: a step is reproducible from the
    generator's state, and a batch split across processes draws as one."""
    if not 0.0 <= label_dropout <= 1.0:
        raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout}")
    noise = torch.randn(shape, generator=generator, device=generator.device)
    t = sample_time(shape[0], time_mode, generator)
    # Always drawn, even at dropout 0, so the random stream does not depend on the setting
    drop = torch.rand(shape[0], generator=generator, device=generator.device) < label_dropout
    return FlowDraw(noise, t, drop)


def flow_matching_loss(
    model: VelocityModel, x1: Tensor, y: Tensor, drawn: FlowDraw, null_class: int
) -> Tensor:
    """MSE between model(x_t, t, y) and the straight-path velocity x1 - x0, averaged."""
    x0 = drawn.noise.to(device=x1.device, dtype=x1.dtype)  # (N, C, H, W)
    t = drawn.t.to(x1.device)  # (N,)
    y = torch.where(drawn.drop.to(x1.device), torch.full_like(y, null_class), y)  # (N,)
    t_b = t.view(-1, *([1] * (x1.dim() - 1)))  # (N, 1, 1, 1)
    x_t = (1 - t_b) * x0 + t_b * x1  # (N, C, H, W)
    target = x1 - x0  # (N, C, H, W)
    v = model(x_t, t, y)  # (N, C, H, W)
    # In float32 even under autocast, so the reduction is not done in bf16
    return F.mse_loss(v.float(), target.float())


def velocity_from_data(x1_hat: Tensor, x_t: Tensor, t: Tensor, min_gap: float = 0.05) -> Tensor:
    """The velocity a predicted clean image implies, (x1_hat - x_t) / (1 - t), with the gap to
    the data end held at `min_gap` or more, as JiT does (Li & He, 2025)."""
    gap = (1 - t).clamp(min=min_gap).view(-1, *([1] * (x_t.dim() - 1)))  # (N, 1, 1, 1)
    return (x1_hat - x_t) / gap  # (N, C, H, W)


def _time(x: Tensor, value: float) -> Tensor:
    """Per-sample time vector (N,) for the batch x."""
    return torch.full((x.shape[0],), value, device=x.device, dtype=torch.float32)


def time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """steps + 1 flow times from 0 (noise) to 1 (data): uniform u, mapped to
    t = u / (1 + (shift - 1)(1 - u)), so that shift > 1 takes more of the steps near the noise
    (SD3's shift, in this convention)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return [u / (1 + (shift - 1) * (1 - u)) for u in (i / steps for i in range(steps + 1))]


@torch.no_grad()
def euler(velocity_fn: VelocityFn, noise: Tensor, times: list[float]) -> Tensor:
    """Integrate dx/dt = v(x, t) over the grid `times` (0 to 1) with explicit Euler steps."""
    x = noise
    for t0, t1 in itertools.pairwise(times):
        x = x + (t1 - t0) * velocity_fn(x, _time(x, t0))
    return x


@torch.no_grad()
def heun(velocity_fn: VelocityFn, noise: Tensor, times: list[float]) -> Tensor:
    """Integrate over the grid `times` with Heun's method (two velocity calls per step)."""
    x = noise
    for t0, t1 in itertools.pairwise(times):
        v0 = velocity_fn(x, _time(x, t0))
        v1 = velocity_fn(x + (t1 - t0) * v0, _time(x, t1))
        x = x + (t1 - t0) * 0.5 * (v0 + v1)
    return x


SOLVERS = {"euler": euler, "heun": heun}
EVALUATIONS_PER_STEP = {"euler": 1, "heun": 2}


def solve(
    velocity_fn: VelocityFn, noise: Tensor, steps: int, solver: Solver, shift: float = 1.0
) -> Tensor:
    """Integrate noise to data with the named ODE solver over `steps` steps of time_grid."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {sorted(SOLVERS)}")
    return SOLVERS[solver](velocity_fn, noise, time_grid(steps, shift))
