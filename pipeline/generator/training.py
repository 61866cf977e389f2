"""Training the generator: flow matching, AdamW, warm-up + cosine, EMA, resumable checkpoints.

One loop, read top to bottom: the step, the schedule, and checkpoint save and resume beside it.
It runs alone or as one rank of a `torchrun` job (see `distributed`); rank 0 keeps the EMA and
writes the checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from pipeline.data.images import ImageSet
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.generator.distributed import World
from pipeline.generator.dit import DiT, DiTConfig
from pipeline.generator.flow import TimeMode, draw, flow_matching_loss
from pipeline.params import bounded

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class TrainConfig:
    """The `train_dit.train` params."""

    steps: int = bounded(1, 10_000_000)
    batch_size: int = bounded(1, 65_536)  # the global batch, split over the processes
    lr: float = bounded(0.0, 1.0)
    min_lr: float = bounded(0.0, 1.0)
    warmup_steps: int = bounded(0, 10_000_000)
    weight_decay: float = bounded(0.0, 1.0)
    grad_clip: float = bounded(0.0, 1e6)  # max gradient norm; 0 turns clipping off
    ema_decay: float = bounded(0.0, 1.0)
    label_dropout: float = bounded(0.0, 1.0)  # probability a label becomes the null class
    time_sampling: TimeMode
    hflip: bool  # random horizontal flips: CIFAR-10 classes are mirror-symmetric
    class_balanced: bool  # draw classes equally often, whatever their share of the data
    checkpoint_every: int = bounded(1, 10_000_000)
    precision: Precision  # auto: bf16 autocast where the hardware has bf16 units
    device: Device  # auto: CUDA when present
    seed: int = bounded(0, 2**63 - 1)
    threads: int = bounded(0, 1024)  # 0: torch's default


@dataclass
class TrainResult:
    ema: DiT
    losses: list[float]
    drawn: np.ndarray  # (steps, batch) indices of the images each step trained on
    resumed_from: int
    images_per_s: float  # over every session of the run, interrupted ones included
    wall_s: float  # training time of every session
    device: str
    precision: str
    processes: int

    def metrics(self) -> dict[str, float | int]:
        tail = self.losses[-max(1, len(self.losses) // 20) :]  # last 5% of steps, less noisy
        return {
            "final_loss": round(float(np.mean(tail)), 6),
            "steps": len(self.losses),
            "parameters": sum(p.numel() for p in self.ema.parameters()),
        }

    def timing(self) -> dict[str, float | int | str]:
        return {
            "images_per_s": round(self.images_per_s, 1),
            "wall_s": round(self.wall_s, 1),
            "resumed_from_step": self.resumed_from,
            "device": self.device,
            "precision": self.precision,
            "processes": self.processes,
            "threads": torch.get_num_threads(),
        }


class NonFiniteLossError(PipelineError):
    """The training loss became NaN or infinite."""


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


def ema_decay(step: int, decay: float) -> float:
    """EMA decay warmed up as (1 + step) / (10 + step), capped at decay."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * live for parameters; buffers are copied."""
    ema_params = [p for _, p in sorted(ema_model.named_parameters())]
    live_params = [p.detach() for _, p in sorted(model.named_parameters())]
    torch._foreach_lerp_(ema_params, live_params, 1.0 - decay)  # one kernel for all tensors
    ema_buffers = dict(ema_model.named_buffers())
    for name, buffer in model.named_buffers():
        ema_buffers[name].copy_(buffer)


def check_finite(loss: Tensor, step: int) -> None:
    """Raise NonFiniteLossError if loss is NaN or infinite (synchronises with the device)."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(
            f"non-finite loss {loss.item()} at step {step}; the last good checkpoint is kept. "
            "Lower train_dit.train.lr, raise warmup_steps or set grad_clip."
        )


class BatchSampler:
    """Draws batches of indices with replacement, optionally class-balanced.

    Balanced draws weight each image by the inverse of its class's frequency, so every class is
    drawn equally often whatever its share of the data.
    """

    def __init__(
        self, labels: np.ndarray, batch_size: int, balanced: bool, generator: torch.Generator
    ) -> None:
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels] if balanced else np.ones(len(labels))
        self.weights = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        self.batch_size = batch_size
        self.generator = generator

    def draw(self) -> Tensor:
        return torch.multinomial(
            self.weights, self.batch_size, replacement=True, generator=self.generator
        )  # (B,)


def class_histogram(labels: np.ndarray, drawn: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """How often each class was drawn, against its count in the data."""
    drawn_counts = np.bincount(labels[drawn], minlength=len(class_names))
    data_counts = np.bincount(labels, minlength=len(class_names))
    return {
        name: {"drawn": int(d), "in_data": int(n)}
        for name, d, n in zip(class_names, drawn_counts, data_counts, strict=True)
    }


def resolve_device(device: Device, world: World) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise PipelineError("train_dit.train.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", world.local_rank)
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 or AMX); elsewhere bf16 autocast is slower."""
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:
        return False


def resolve_precision(precision: Precision, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def run_identity(model_config: DiTConfig, config: TrainConfig, data: ImageSet, inputs: str) -> str:
    """What a checkpoint must match to be resumed: the model, the training params, the images
    and labels themselves, and `inputs` (the caller's digest of its code and params)."""
    digest = hashlib.sha256()
    for array in (data.images, data.labels):
        digest.update(np.ascontiguousarray(array).data)
    identity = {
        "inputs": inputs,
        "model": model_config.to_dict(),
        "train": asdict(config),
        "data": [digest.hexdigest(), data.class_names],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def to_model_input(images: Tensor, flip: Tensor | None) -> Tensor:
    """uint8 (B, H, W, C) to float (B, C, H, W) in [-1, 1], mirrored where `flip` is set."""
    x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, C, H, W)
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


def train(
    model_config: DiTConfig,
    config: TrainConfig,
    data: ImageSet,
    checkpoint: Path,
    inputs: str,
    world: World | None = None,
    timeout_s: int = 1800,
) -> TrainResult | None:
    """Train (or resume an unfinished run of exactly the same inputs); rank 0 gets the result."""
    world = world or World()
    device = resolve_device(config.device, world)
    precision = resolve_precision(config.precision, device)
    if config.threads:
        torch.set_num_threads(config.threads)
    part = world.shard(config.batch_size)
    world.start(device, timeout_s)
    torch.manual_seed(config.seed)  # the initial weights
    generator = torch.Generator().manual_seed(config.seed)  # every draw of the run
    model = DiT(model_config).to(device)
    ema = copy.deepcopy(model).requires_grad_(False) if world.is_main else None
    optimizer = torch.optim.AdamW(  # fused: one kernel per step, a real cost at small batches
        model.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        betas=(0.9, 0.99),
        fused=True,
    )
    sampler = BatchSampler(data.labels, config.batch_size, config.class_balanced, generator)
    images = torch.from_numpy(data.images).to(device)
    labels = torch.from_numpy(data.labels).to(device)
    drawn = torch.zeros(config.steps, config.batch_size, dtype=torch.int32)
    losses: list[float] = []
    identity = run_identity(model_config, config, data, inputs)

    # Resume: rank 0 reads the checkpoint, every rank starts from what it read.
    state = world.broadcast(resumable(checkpoint, identity) if world.is_main else None)
    start, seconds_before = 0, 0.0  # training time of earlier, interrupted sessions
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start, seconds_before = state["step"], state["train_seconds"]
        losses = state["losses"].tolist()
        drawn[:start] = state["drawn"]
    trained = DistributedDataParallel(model) if world.size > 1 else model

    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    log.info(
        "training %d steps of batch %d on %d process(es), %s (%s), from step %d",
        config.steps, config.batch_size, world.size, device, precision, start,
    )  # fmt: skip
    model.train()
    began = time.perf_counter()
    steps = range(start, config.steps)
    bar = tqdm(
        steps, initial=start, total=config.steps, desc="train_dit", disable=not world.is_main
    )
    for step in bar:
        lr = lr_at(
            step,
            base_lr=config.lr,
            warmup_steps=config.warmup_steps,
            total_steps=config.steps,
            min_lr=config.min_lr,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        # The whole global batch is drawn on every rank; each trains on its own part of it.
        index = sampler.draw()  # (B,)
        flip = torch.rand(len(index), generator=generator) < 0.5 if config.hflip else None
        shape = (config.batch_size, model_config.channels, *data.images.shape[1:3])
        flow = draw(shape, config.time_sampling, config.label_dropout, generator)
        mine = index[part].to(device)
        x1 = to_model_input(images[mine], None if flip is None else flip[part].to(device))
        with autocast:
            loss = flow_matching_loss(
                trained, x1, labels[mine], flow.shard(part), model_config.num_classes
            )
        mean_loss = world.mean(loss)
        check_finite(mean_loss, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip, foreach=True)
        optimizer.step()
        drawn[step] = index.to(torch.int32)
        losses.append(mean_loss.item())
        if ema is None:
            continue
        update_ema(ema, model, ema_decay(step, config.ema_decay))

        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.steps:
            save_checkpoint(
                checkpoint,
                {
                    "identity": identity,
                    "step": done,
                    "finished": done == config.steps,
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "losses": torch.tensor(losses),
                    "drawn": drawn[:done].clone(),
                    "train_seconds": seconds_before + time.perf_counter() - began,
                },
            )
        elapsed = time.perf_counter() - began
        bar.set_postfix(
            loss=f"{losses[-1]:.4f}",
            lr=f"{lr:.2e}",
            img_s=f"{(done - start) * config.batch_size / elapsed:.0f}",
        )

    world.stop()
    if ema is None:
        return None
    seconds = seconds_before + time.perf_counter() - began
    return TrainResult(
        ema=ema.eval(),
        losses=losses,
        drawn=drawn.numpy(),
        resumed_from=start,
        images_per_s=config.steps * config.batch_size / seconds,
        wall_s=seconds,
        device=str(device),
        precision=precision,
        processes=world.size,
    )


def resumable(checkpoint: Path, identity: str) -> dict[str, Any] | None:
    """The checkpoint's state if it is an unfinished run of exactly these inputs, else None."""
    if not checkpoint.is_file():
        return None
    try:
        state = load_checkpoint(checkpoint)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        log.warning("checkpoint %s is unreadable (%s); training from step 0", checkpoint, err)
        return None
    if state.get("identity") != identity:
        log.info("checkpoint %s is of other code, params or data; training from step 0", checkpoint)
        return None
    if state.get("finished"):
        log.info("checkpoint %s is a finished run; training anew from step 0", checkpoint)
        return None
    log.info("resuming from step %d (%s)", state["step"], checkpoint)
    return state


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically: a crash leaves the old checkpoint or the new one, whole."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by save_checkpoint, refusing arbitrary pickled objects."""
    return torch.load(path, map_location="cpu", weights_only=True)
