"""A long training run shown as it goes: every N steps the EMA network draws a small labelled
grid from the same noise, and a classifier that took no part in training it scores the grid,
where it knows the classes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.classifier.evaluation import hits
from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import ImageSet
from pipeline.files import write_csv
from pipeline.generator.dit import DiT
from pipeline.generator.flow import solve
from pipeline.generator.sampling import Guidance, class_labels, save_grid, to_uint8, torch_velocity
from pipeline.runtime.models import read_info
from pipeline.schema import bounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressParams:
    """The `train_dit.progress` params: what a person sees of a run while it trains."""

    every: int = bounded(0, 10_000_000)  # steps between grids; 0: none
    per_class: int = bounded(1, 100)  # images per class in a grid, and scored
    steps: int = bounded(1, 1000)  # Euler steps of the grid's sampler
    guidance_scale: float = bounded(0.0, 100.0)
    seed: int = bounded(0, 2**63 - 1)  # the grid's noise: the same at every step of a run


def grid_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:07d}.png"


def keep_grids(folder: Path, steps: list[int]) -> list[tuple[int, Path]]:
    """Of `steps`, the steps this run drew at, those whose grids are in `folder` (a resumed run
    drew the first ones before it stopped), with the grids; any other is an earlier run's, and
    goes."""
    found = {int(path.stem.removeprefix("step_")): path for path in folder.glob("step_*.png")}
    for step, path in found.items():
        if step not in steps:
            path.unlink()
    return [(step, found[step]) for step in steps if step in found]


@dataclass
class Progress:
    """Draws a run's grid at a step, and scores it by `judge` where the judge knows the classes."""

    params: ProgressParams
    class_names: tuple[str, ...]
    folder: Path  # step_<step>.png, one a grid
    judge: Path | None  # an ONNX classifier that took no part in training the generator

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)  # a DVC output even where none is drawn
        known = self.judge is not None and self.judge.is_file()
        if known and read_info(ClassifierInfo, self.judge).class_names != self.class_names:
            log.info("the held-out classifier %s knows other classes: grids unscored", self.judge)
            known = False
        self.scored = known

    def __call__(self, model: DiT, step: int) -> dict[str, float]:
        """Draw and save the grid of the network `model` after `step` steps; its scores."""
        p, device = self.params, next(model.parameters()).device
        labels = class_labels(len(self.class_names), p.per_class)
        noise = torch.randn(  # the run's own generator stays untouched: training is unchanged
            (len(labels), model.config.channels, model.config.image_size, model.config.image_size),
            generator=torch.Generator().manual_seed(p.seed),
        )
        velocity = torch_velocity(model, labels.to(device), Guidance(p.guidance_scale))
        images = to_uint8(solve(velocity, noise.to(device), p.steps, "euler"))
        save_grid(images, self.class_names, grid_path(self.folder, step))
        if not self.scored:
            return {}
        assert self.judge is not None
        drawn = ImageSet(images, labels.numpy(), self.class_names)
        accuracy = float(np.mean(hits(self.judge, drawn, threads=1, batch_size=256)))
        log.info("step %d: the held-out classifier names %.2f of the grid", step, accuracy)
        return {"held_out_accuracy": accuracy}

    def record(
        self, history: dict[str, list[float]], table: Path
    ) -> tuple[list[tuple[int, float]], list[tuple[int, Path]]]:
        """Write the run's scores by step to the CSV `table` and keep only its grids; the
        (step, score) pairs, and the (step, grid) pairs of the grids in the folder."""
        drawn_at = [int(step) for step in history.get("eval_step", [])]
        scored = list(zip(drawn_at, history.get("held_out_accuracy_ema", []), strict=False))
        write_csv(table, ["step", "held_out_accuracy"], scored)
        return scored, keep_grids(self.folder, drawn_at)
