"""Throughput measured side by side, so that load from elsewhere on a shared machine hits every
variant alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.runtime.sessions import open_session


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


def session_throughput(
    models: dict[str, Path],
    feed: Callable[[list[str]], dict[str, np.ndarray]],
    batch_size: int,
    rounds: int,
    threads: int,
) -> dict[str, float]:
    """Images per second of each ONNX model on the inputs `feed(input names)` gives, measured
    side by side."""
    runs: dict[str, Callable[[], object]] = {}
    for name, path in models.items():
        session = open_session(path, threads)
        inputs = feed([value.name for value in session.get_inputs()])
        runs[name] = lambda session=session, inputs=inputs: session.run(None, inputs)
    return {
        name: round(rate, 1)
        for name, rate in interleaved_throughput(runs, batch_size, rounds).items()
    }
