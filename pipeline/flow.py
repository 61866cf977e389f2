"""Rectified flow (flow matching): training loss and ODE samplers.

Convention: t=0 is pure noise x0 ~ N(0, I), t=1 is data x1, x_t = (1 - t) x0 + t x1, and the
velocity to predict is v = x1 - x0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from pipeline.dit import DiT

TimeMode = Literal["uniform", "logit_normal"]
SampleMethod = Literal["euler", "heun"]
# velocity_fn(x (N, ...), t (N,)) -> velocity shaped like x
VelocityFn = Callable[[Tensor, Tensor], Tensor]
# model(x_t (N, ...), t (N,), y (N,)) -> velocity shaped like x_t, e.g. a DiT
VelocityModel = Callable[[Tensor, Tensor, Tensor], Tensor]


def sample_time(
    n: int,
    mode: TimeMode,
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw n flow times in (0, 1): uniform, or logit-normal (sigmoid of N(0, 1))."""
    # Draw on the generator's own device so one CPU generator can serve any model device
    if mode == "uniform":
        t = torch.rand(n, generator=generator, device=generator.device)
    elif mode == "logit_normal":
        t = torch.sigmoid(torch.randn(n, generator=generator, device=generator.device))
    else:
        raise ValueError(f"unknown time mode {mode!r}; expected 'uniform' or 'logit_normal'")
    return t.to(device if device is not None else generator.device)  # (n,)


def flow_matching_loss(
    model: VelocityModel,
    x1: Tensor,
    y: Tensor,
    *,
    time_mode: TimeMode,
    label_dropout: float,
    null_class: int,
    generator: torch.Generator,
) -> Tensor:
    """MSE between model(x_t, t, y) and the straight-path velocity x1 - x0, averaged.

    Noise, times and label dropout all come from generator, in that order, so a run is
    reproducible from the generator's seed or saved state.
    """
    if not 0.0 <= label_dropout <= 1.0:
        raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout}")
    n = x1.shape[0]
    x0 = torch.randn(x1.shape, generator=generator, device=generator.device)
    x0 = x0.to(device=x1.device, dtype=x1.dtype)  # (N, C, H, W)
    t = sample_time(n, time_mode, generator, device=x1.device)  # (N,)
    # Always drawn, even at dropout 0, so the random stream does not depend on the setting
    drop = torch.rand(n, generator=generator, device=generator.device).to(x1.device)  # (N,)
    y = torch.where(drop < label_dropout, torch.full_like(y, null_class), y)  # (N,)
    t_b = t.view(-1, *([1] * (x1.dim() - 1)))  # (N, 1, 1, 1)
    x_t = (1 - t_b) * x0 + t_b * x1  # (N, C, H, W)
    target = x1 - x0  # (N, C, H, W)
    v = model(x_t, t, y)  # (N, C, H, W)
    # In float32 even under autocast, so the reduction is not done in bf16
    return F.mse_loss(v.float(), target.float())


def _time(x: Tensor, value: float) -> Tensor:
    """Per-sample time vector (N,) for the batch x."""
    return torch.full((x.shape[0],), value, device=x.device, dtype=torch.float32)


@torch.no_grad()
def euler_sample(velocity_fn: VelocityFn, noise: Tensor, steps: int) -> Tensor:
    """Integrate dx/dt = v(x, t) from t=0 (noise) to t=1 with explicit Euler steps."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    dt = 1.0 / steps
    x = noise
    for i in range(steps):
        x = x + dt * velocity_fn(x, _time(x, i * dt))
    return x


@torch.no_grad()
def heun_sample(velocity_fn: VelocityFn, noise: Tensor, steps: int) -> Tensor:
    """Integrate from t=0 to t=1 with Heun's method (two velocity calls per step)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    dt = 1.0 / steps
    x = noise
    for i in range(steps):
        t0, t1 = i * dt, (i + 1) * dt
        v0 = velocity_fn(x, _time(x, t0))
        x_pred = x + dt * v0
        v1 = velocity_fn(x_pred, _time(x, t1))
        x = x + dt * 0.5 * (v0 + v1)
    return x


def sample(velocity_fn: VelocityFn, noise: Tensor, steps: int, method: SampleMethod) -> Tensor:
    """Integrate noise to data with the named ODE solver ('euler' or 'heun')."""
    if method == "euler":
        return euler_sample(velocity_fn, noise, steps)
    if method == "heun":
        return heun_sample(velocity_fn, noise, steps)
    raise ValueError(f"unknown sampling method {method!r}; expected 'euler' or 'heun'")


def cfg_velocity_fn(model: DiT, labels: Tensor, guidance_scale: float | Tensor) -> VelocityFn:
    """velocity_fn(x, t) for a DiT guided towards labels (N,) with scale s (scalar or (N,)).

    s = 1 is the plain conditional model and s = 0 the unconditional (null-class) one.
    """
    scale = torch.as_tensor(guidance_scale, dtype=torch.float32, device=labels.device)
    scale = scale.expand(labels.shape[0])  # (N,)

    def velocity_fn(x: Tensor, t: Tensor) -> Tensor:
        return model.forward_with_cfg(x, t, labels, scale)

    return velocity_fn
