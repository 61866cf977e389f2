"""The generator's training loop: flow matching, AdamW, warm-up + cosine, EMA, resumable."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from pipeline.datasets import ImageSet
from pipeline.dit import DiT, DiTConfig
from pipeline.flow import TimeMode, flow_matching_loss
from pipeline.image_folders import BatchSampler
from pipeline.params import bounded
from pipeline.training import (
    check_finite,
    ema_decay,
    load_checkpoint,
    lr_at,
    restore_rng_states,
    save_checkpoint,
    update_ema,
)

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = bounded(1, 10_000_000)
    batch_size: int = bounded(1, 65_536)
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


def resolve_device(device: Device) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train_dit.device is 'cuda' but no CUDA device is available")
    return torch.device(device)


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


def fingerprint(model_config: DiTConfig, config: TrainConfig, data: ImageSet) -> str:
    """What a checkpoint must match to be resumed: the model, the run's params, the data."""
    identity = {
        "model": model_config.to_dict(),
        "train": asdict(config),
        "data": [
            list(data.images.shape),
            data.class_names,
            hashlib.sha256(data.labels.tobytes()).hexdigest(),
        ],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def to_model_input(images: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
    """uint8 (B, H, W, 3) to float (B, 3, H, W) in [-1, 1], mirrored where `flip` is set."""
    x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W)
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


def train(
    model_config: DiTConfig, config: TrainConfig, data: ImageSet, checkpoint: Path
) -> TrainResult:
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # all training randomness
    model = DiT(model_config).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.99)
    )
    sampler = BatchSampler(data.labels, config.batch_size, config.class_balanced, generator)
    images = torch.from_numpy(data.images).to(device)
    labels = torch.from_numpy(data.labels).to(device)
    drawn = torch.zeros(config.steps, config.batch_size, dtype=torch.int32)
    losses: list[float] = []
    identity = fingerprint(model_config, config, data)

    start, seconds_before = 0, 0.0  # training time of earlier, interrupted sessions
    if checkpoint.is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        if state["extra"]["fingerprint"] == identity:
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            restore_rng_states(state, generator)
            start = state["step"]
            losses = list(state["extra"]["losses"].tolist())
            drawn[:start] = state["extra"]["drawn"][:start]
            seconds_before = state["extra"]["train_seconds"]
            log.info("resuming from step %d (%s)", start, checkpoint)
        else:
            log.info("checkpoint %s is from other params or data; starting afresh", checkpoint)

    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    log.info("training %d steps on %s (%s) from step %d", config.steps, device, precision, start)
    model.train()
    began = time.perf_counter()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="train_dit")
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
        index = sampler.draw()  # (B,)
        flip = torch.rand(len(index), generator=generator) < 0.5 if config.hflip else None
        x1 = to_model_input(images[index.to(device)], None if flip is None else flip.to(device))
        with autocast:
            loss = flow_matching_loss(
                model,
                x1,
                labels[index.to(device)],
                time_mode=config.time_sampling,
                label_dropout=config.label_dropout,
                null_class=model_config.num_classes,
                generator=generator,
            )
        check_finite(loss, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        update_ema(ema, model, ema_decay(step, config.ema_decay))
        drawn[step] = index.to(torch.int32)
        losses.append(loss.item())

        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.steps:
            extra = {
                "fingerprint": identity,
                "losses": torch.tensor(losses),
                "drawn": drawn[:done].clone(),
                "train_seconds": seconds_before + time.perf_counter() - began,
            }
            save_checkpoint(
                checkpoint,
                model=model,
                ema=ema,
                optimizer=optimizer,
                step=done,
                extra=extra,
                generator=generator,
            )
        elapsed = time.perf_counter() - began
        bar.set_postfix(
            loss=f"{losses[-1]:.4f}",
            lr=f"{lr:.2e}",
            img_s=f"{(done - start) * config.batch_size / elapsed:.0f}",
        )

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
    )
