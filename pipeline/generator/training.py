"""Training the generator: the DiT learns rectified-flow velocities (flow matching) in the shared
training loop (`pipeline.training.loop`), which brings AdamW, the schedule, the EMA, the
recorded draws, checkpoints and `torchrun`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from pipeline.classifier.resnet import ResNet8
from pipeline.data.images import ImageSet
from pipeline.generator.alignment import (
    AlignedDiT,
    AlignmentParams,
    alignment_loss,
    generator_of,
    teacher_tokens,
)
from pipeline.generator.dit import DiT, DiTArchitecture, DiTConfig
from pipeline.generator.flow import TimeMode, draw, flow_matching_loss
from pipeline.schema import bounded
from pipeline.training.params import TrainerParams


@dataclass(frozen=True)
class DiTTrainParams(TrainerParams):
    """The `train_dit.train` params."""

    steps: int = bounded(1, 10_000_000)
    label_dropout: float = bounded(0.0, 1.0)  # probability a label becomes the null class
    time_sampling: TimeMode


def to_model_input(images: Tensor, flip: Tensor | None) -> Tensor:
    """uint8 (B, H, W, C) to float (B, C, H, W) in [-1, 1], mirrored where `flip` is set."""
    x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, C, H, W)
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


@dataclass
class FlowMatchingTask:
    """The DiT and its flow-matching loss on batches of the training images."""

    config: DiTConfig
    params: DiTTrainParams
    data: ImageSet
    # shown along the way (the whole judging is `validate`'s): scores of the EMA network at a step
    progress: Callable[[DiT, int], dict[str, float]] | None = None
    eval_every: int = 0  # steps between calls of `progress`
    # REPA: the trained classifier whose feature maps the DiT's tokens learn to match, and how
    teacher: ResNet8 | None = None
    alignment: AlignmentParams | None = None
    section: str = "train_dit.train"
    labels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.labels = self.data.labels

    def build(self, device: torch.device) -> nn.Module:
        self.images = torch.from_numpy(self.data.images).to(device)
        self.targets = torch.from_numpy(self.data.labels).to(device)
        self.device = device
        dit = DiT(self.config).to(device)
        if self.teacher is None or self.alignment is None or not self.alignment.weight:
            return dit
        self.teacher.to(device, memory_format=torch.channels_last)
        channels = self.teacher.head.in_features
        return AlignedDiT(dit, self.alignment, channels).to(device)

    def loss(self, model: nn.Module, index: Tensor, part: slice, rng: torch.Generator) -> Tensor:
        flip = torch.rand(len(index), generator=rng) < 0.5 if self.params.hflip else None
        shape = (len(index), self.config.channels, self.config.image_size, self.config.image_size)
        flow = draw(shape, self.params.time_sampling, self.params.label_dropout, rng)
        mine = index[part].to(self.device)
        x1 = to_model_input(self.images[mine], None if flip is None else flip[part].to(self.device))
        loss = flow_matching_loss(
            model, x1, self.targets[mine], flow.shard(part), self.config.num_classes
        )
        aligned = getattr(model, "module", model)  # under DDP, the module it wraps
        if not isinstance(aligned, AlignedDiT):
            return loss
        assert (
            self.teacher is not None
            and self.alignment is not None
            and aligned.projected is not None
        )
        pixels = ((x1 + 1) * 127.5).permute(0, 2, 3, 1)  # (b, H, W, C), as the classifier reads
        target = teacher_tokens(self.teacher, pixels, self.config.grid_size)
        return loss + self.alignment.weight * alignment_loss(aligned.projected, target)

    def evaluate(self, model: nn.Module, step: int, averaged: bool) -> dict[str, float]:
        if self.progress is None or not averaged:  # the EMA weights are what is sampled
            return {}
        return self.progress(generator_of(model), step)


@dataclass(frozen=True)
class GeneratorTrainingMetrics:
    """metrics/train_dit.json."""

    final_loss: float  # the mean over the last 5% of steps, less noisy than the last one
    steps: int
    parameters: int

    @classmethod
    def of(cls, losses: list[float], model: nn.Module) -> GeneratorTrainingMetrics:
        tail = losses[-max(1, len(losses) // 20) :]
        return cls(
            final_loss=round(float(np.mean(tail)), 6),
            steps=len(losses),
            parameters=sum(p.numel() for p in model.parameters()),
        )


@dataclass(frozen=True)
class TrainingData:
    path: str  # where the images came from
    images: int


@dataclass(frozen=True)
class GeneratorRecord:
    """models/dit/training.json: what the generator learnt from, how, and how far it got."""

    data: TrainingData
    model: DiTArchitecture
    train: DiTTrainParams
    result: GeneratorTrainingMetrics
