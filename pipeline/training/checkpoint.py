"""A training run's checkpoint: everything needed to go on as if never stopped, saved and
restored by one type, and resumed only by a run of exactly the same inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pipeline.data.images import ImageSet
from pipeline.files import atomic_path

log = logging.getLogger(__name__)


def run_identity(code_and_params: str, data: ImageSet) -> str:
    """What a checkpoint must match to be resumed: the digest of the stage's code and params
    (as DVC sees them) and the training images and labels themselves."""
    digest = hashlib.sha256()
    for array in (data.images, data.labels):
        digest.update(np.ascontiguousarray(array).data)
    identity = {"code_and_params": code_and_params, "data": [digest.hexdigest(), data.class_names]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass
class Checkpoint:
    """The state of a run after `step` steps; `finished` once it has made all of them."""

    identity: str
    step: int
    finished: bool
    model: dict[str, Tensor]
    ema: dict[str, Tensor]
    optimizer: dict[str, Any]
    generator: Tensor  # the random stream every draw of the run comes from
    history: dict[str, list[float]]  # the loss of every step, and any evaluations
    drawn: Tensor  # (step, batch) indices of the images each step trained on
    train_seconds: float  # over every session of the run, interrupted ones included

    def save(self, path: Path) -> None:
        """Written atomically: a crash leaves the old checkpoint or the new one, whole."""
        state = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Loads tensors and plain data only: a checkpoint holding code is refused."""
        return cls(**torch.load(path, map_location="cpu", weights_only=True))

    @classmethod
    def resumable(cls, path: Path, identity: str) -> Checkpoint | None:
        """The checkpoint if it is an unfinished run of exactly these inputs, else None."""
        if not path.is_file():
            return None
        try:
            state = cls.load(path)
        except Exception as err:  # torch raises many types for a damaged or foreign file
            log.warning("checkpoint %s is unreadable (%s); training from step 0", path, err)
            return None
        if state.identity != identity:
            log.info("checkpoint %s is of other code, params or data; training from step 0", path)
            return None
        if state.finished:
            log.info("checkpoint %s is a finished run; training anew from step 0", path)
            return None
        log.info("resuming from step %d (%s)", state.step, path)
        return state
