"""What every trainer's `train` params say, whatever it trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.schema import bounded

Precision = Literal["auto", "fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class TrainerParams:
    """What every trainer's `train` params say: the optimisation, the average, where it runs."""

    batch_size: int = bounded(1, 65_536)  # the global batch, split over the processes
    lr: float = bounded(0.0, 1.0)
    min_lr: float = bounded(0.0, 1.0)
    warmup_steps: int = bounded(0, 10_000_000)
    weight_decay: float = bounded(0.0, 1.0)
    grad_clip: float = bounded(0.0, 1e6)  # max gradient norm; 0 turns clipping off
    ema_decay: float = bounded(0.0, 1.0)
    hflip: bool  # random horizontal flips: the classes here look alike mirrored
    class_balanced: bool  # draw classes equally often, whatever their share of the data
    checkpoint_every: int = bounded(1, 10_000_000)  # steps
    precision: Precision  # auto: bf16 autocast where the hardware has bf16 units
    device: Device  # auto: CUDA when present
    seed: int = bounded(0, 2**63 - 1)
    threads: int = bounded(0, 1024)  # 0: torch's default
