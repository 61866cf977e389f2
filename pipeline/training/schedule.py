"""The learning rate over a run: linear warm-up, then cosine decay."""

from __future__ import annotations

import math


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
