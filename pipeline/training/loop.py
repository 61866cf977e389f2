"""The training loop both trainers run: AdamW, warm-up + cosine, EMA, recorded draws, checkpoints
that resume only an unfinished run of the same inputs, one process or many (`torchrun`).

A trainer describes itself as a `Task` (its model, its loss on a batch, how it is evaluated);
the loop reads top to bottom: the step, the schedule, evaluation and checkpointing beside it.
Rank 0 alone keeps the EMA, evaluates and writes checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from pipeline.errors import Interrupted, PipelineError
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.distributed import World
from pipeline.training.ema import EMA
from pipeline.training.hardware import autocast, resolve_device, resolve_precision
from pipeline.training.params import TrainerParams
from pipeline.training.sampler import RecordingSampler
from pipeline.training.schedule import lr_at


class Task(Protocol):
    """What a trainer trains: its model, its loss on a batch, how it is judged along the way."""

    section: str  # its params section ("train_dit.train"), to name in errors
    labels: np.ndarray  # one per training image: what balanced draws even out
    eval_every: int  # steps between evaluations; 0: none

    def build(self, device: torch.device) -> nn.Module: ...

    def loss(self, model: nn.Module, index: Tensor, part: slice, rng: torch.Generator) -> Tensor:
        """The loss of this rank's `part` of the global batch `index`; every random draw of the
        whole batch comes from `rng`, so that any process count computes the same step."""
        ...

    def evaluate(self, model: nn.Module, step: int, averaged: bool) -> dict[str, float]:
        """Scores of `model` after `step` steps, holding the raw or the EMA (`averaged`) weights;
        a task may score only one of them."""
        ...


@dataclass(frozen=True)
class TrainingTiming:
    """reports/timing/<stage>.json of a trainer: how long and where, not what it learnt."""

    images_per_s: float  # over every session of the run, interrupted ones included
    wall_s: float
    evaluation_s: float  # of wall_s: evaluations along the way (validation, progress grids)
    resumed_from_step: int
    device: str
    precision: str
    processes: int
    threads: int


@dataclass
class Trained:
    model: nn.Module  # holding the EMA weights, in eval mode
    history: dict[str, list[float]]  # "loss" per step; evaluations: "eval_step", "<name>_ema|raw"
    drawn: np.ndarray  # (steps, batch) indices of the images each step trained on
    timing: TrainingTiming


class NonFiniteLossError(PipelineError):
    """The training loss became NaN or infinite."""


def check_finite(loss: Tensor, step: int, section: str = "train") -> None:
    """Raise NonFiniteLossError if loss is NaN or infinite (synchronises with the device)."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(
            f"non-finite loss {loss.item()} at step {step}; the last good checkpoint is kept. "
            f"Lower {section}.lr, raise {section}.warmup_steps or set {section}.grad_clip."
        )


@dataclass
class Run:
    """One training run's moving parts on this rank."""

    task: Task
    params: TrainerParams
    steps: int
    world: World
    device: torch.device
    precision: str
    model: nn.Module
    ema: EMA | None  # rank 0 only
    optimizer: torch.optim.Optimizer
    rng: torch.Generator
    sampler: RecordingSampler
    history: dict[str, list[float]]

    @classmethod
    def start(cls, task: Task, params: TrainerParams, steps: int, world: World) -> Run:
        device = resolve_device(params.device, world)
        if params.threads:
            torch.set_num_threads(params.threads)
        torch.manual_seed(params.seed)  # the initial weights
        rng = torch.Generator().manual_seed(params.seed)  # every draw of the run
        model = task.build(device)
        optimizer = torch.optim.AdamW(  # fused: one kernel per step, a real cost at small batches
            model.parameters(),
            lr=params.lr,
            weight_decay=params.weight_decay,
            betas=(0.9, 0.99),
            fused=True,
        )
        sampler = RecordingSampler(
            task.labels, params.batch_size, params.class_balanced, rng, steps
        )
        ema = EMA(model, params.ema_decay) if world.is_main else None
        precision = resolve_precision(params.precision, device)
        return cls(task, params, steps, world, device, precision, model, ema, optimizer, rng,
                   sampler, {"loss": []})  # fmt: skip

    def restore(self, state: Checkpoint) -> None:
        self.model.load_state_dict(state.model)
        self.optimizer.load_state_dict(state.optimizer)
        self.rng.set_state(state.generator)
        if self.ema is not None:
            self.ema.load_state_dict(state.ema)
        self.history = {key: list(values) for key, values in state.history.items()}
        self.sampler.drawn[: state.step] = state.drawn

    def checkpoint(self, identity: str, done: int, seconds: float) -> Checkpoint:
        assert self.ema is not None  # rank 0's
        return Checkpoint(
            identity=identity,
            step=done,
            finished=done == self.steps,
            model=self.model.state_dict(),
            ema=self.ema.state_dict(),
            optimizer=self.optimizer.state_dict(),
            generator=self.rng.get_state(),
            history=self.history,
            drawn=self.sampler.drawn[:done].clone(),
            train_seconds=seconds,
        )

    def learning_rate(self, step: int) -> float:
        p = self.params
        # a run shorter than the warm-up (a small dataset) warms up over the whole run
        warmup = min(p.warmup_steps, self.steps)
        lr = lr_at(step, base_lr=p.lr, warmup_steps=warmup, total_steps=self.steps,
                   min_lr=p.min_lr)  # fmt: skip
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def evaluate(self, done: int) -> None:
        """The task's evaluation of the raw weights, then of the EMA swapped in for it."""
        assert self.ema is not None  # rank 0's
        began = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            raw = self.task.evaluate(self.model, done, averaged=False)
            with self.ema.applied_to(self.model):
                averaged = self.task.evaluate(self.model, done, averaged=True)
        self.model.train()
        self.history.setdefault("eval_step", []).append(float(done))
        self.history.setdefault("eval_seconds", []).append(time.perf_counter() - began)
        for weights, scores in (("raw", raw), ("ema", averaged)):
            for name, value in scores.items():
                self.history.setdefault(f"{name}_{weights}", []).append(value)


def train(
    task: Task,
    params: TrainerParams,
    steps: int,
    checkpoint: Path,
    identity: str,
    world: World | None = None,
    timeout_s: int = 1800,
) -> Trained | None:
    """Train (or resume an unfinished run of exactly `identity`); rank 0 gets the result."""
    world = world or World()
    part = world.shard(params.batch_size, f"{task.section}.batch_size")
    run = Run.start(task, params, steps, world)
    world.start(run.device, timeout_s)
    state = world.broadcast(Checkpoint.resumable(checkpoint, identity) if world.is_main else None)
    start, seconds_before = (state.step, state.train_seconds) if state else (0, 0.0)
    if state is not None:
        run.restore(state)
    trained = DistributedDataParallel(run.model) if world.size > 1 else run.model
    run.model.train()
    began, saved = time.perf_counter(), start
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=task.section,
               disable=not world.is_main)  # fmt: skip
    try:
        for step in bar:
            lr = run.learning_rate(step)
            index = run.sampler.draw(step)  # (B,) the whole global batch, on every rank
            with autocast(run.precision, run.device):
                loss = task.loss(trained, index, part, run.rng)
            mean_loss = world.mean(loss)
            check_finite(mean_loss, step, task.section)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the ranks
            if params.grad_clip > 0:
                nn.utils.clip_grad_norm_(run.model.parameters(), params.grad_clip, foreach=True)
            run.optimizer.step()
            run.history["loss"].append(mean_loss.item())
            if run.ema is None:
                continue
            run.ema.update(run.model, step)
            done = step + 1
            if task.eval_every and (done % task.eval_every == 0 or done == steps):
                run.evaluate(done)
            if done % params.checkpoint_every == 0 or done == steps:
                seconds = seconds_before + time.perf_counter() - began
                run.checkpoint(identity, done, seconds).save(checkpoint)
                saved = done
            rate = (done - start) * params.batch_size / (time.perf_counter() - began)
            bar.set_postfix(
                loss=f"{run.history['loss'][-1]:.4f}", lr=f"{lr:.2e}", img_s=f"{rate:.0f}"
            )
    except KeyboardInterrupt:
        kept = f"its checkpoint of step {saved} is kept" if saved else "no step was checkpointed"
        raise Interrupted(f"training stopped before step {steps}; {kept}") from None
    world.stop()
    return finish(run, start, seconds_before + time.perf_counter() - began) if run.ema else None


def finish(run: Run, start: int, seconds: float) -> Trained:
    assert run.ema is not None  # rank 0's
    run.ema.copy_to(run.model)
    timing = TrainingTiming(
        images_per_s=round(run.steps * run.params.batch_size / seconds, 1),
        wall_s=round(seconds, 1),
        evaluation_s=round(sum(run.history.get("eval_seconds", [])), 1),
        resumed_from_step=start,
        device=str(run.device),
        precision=run.precision,
        processes=run.world.size,
        threads=torch.get_num_threads(),
    )
    return Trained(run.model.eval(), run.history, run.sampler.drawn.numpy(), timing)
