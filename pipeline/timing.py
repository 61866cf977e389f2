"""Throughput measured side by side, so that load from elsewhere on a shared machine hits every
variant alike."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def interleaved_throughput(
    runs: dict[str, Callable[[], object]], batch_size: int, rounds: int
) -> dict[str, float]:
    """Images per second of each `run()` (one batch), measured side by side.

    Variants take turns within every round and each gets the median of its rounds, so load
    from elsewhere on a shared machine hits all of them alike.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up: first calls allocate and pick kernels
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: batch_size / float(np.median(spent)) for name, spent in times.items()}
