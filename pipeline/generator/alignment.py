"""Representation alignment (REPA, Yu et al., 2024): while the DiT learns the flow, an MLP of its
hidden tokens at one depth learns to match a trained classifier's feature map of the clean image,
token by token; the cosine similarity joins the loss. The classifier only teaches: the exported
generator is the DiT alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.classifier.resnet import ResNet8, SavedClassifier
from pipeline.errors import PipelineError
from pipeline.generator.dit import DiT
from pipeline.records import read_record
from pipeline.schema import SchemaError, bounded
from pipeline.training.weights import load_weights


@dataclass(frozen=True)
class AlignmentParams:
    """The `train_dit.repa` params."""

    weight: float = bounded(0.0, 100.0)  # of the alignment loss beside the flow's; 0: off
    depth: int = bounded(1, 1000)  # the tokens after this many blocks are aligned
    projector_width: int = bounded(1, 65_536)  # hidden width of the MLP that projects them


class AlignedDiT(nn.Module):
    """A DiT in training, with the projector of its tokens after `depth` blocks; calling it gives
    the DiT's output and keeps the projected tokens (N, T, teacher channels) in `projected`."""

    def __init__(self, dit: DiT, params: AlignmentParams, teacher_channels: int) -> None:
        super().__init__()
        if params.depth > dit.config.depth:
            raise SchemaError(
                f"train_dit.repa.depth is {params.depth}, but the DiT has {dit.config.depth} blocks"
            )
        self.dit = dit
        width, hidden = dit.config.width, params.projector_width
        self.projector = nn.Sequential(
            nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, teacher_channels),
        )  # fmt: skip
        self.projected: Tensor | None = None
        dit.blocks[params.depth - 1].register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: object, tokens: Tensor) -> None:
        if self.training:
            self.projected = self.projector(tokens)  # (N, T, teacher channels)

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return self.dit(x_t, t, y)


def teacher_tokens(teacher: ResNet8, images: Tensor, grid: int) -> Tensor:
    """The teacher's last feature map of uint8-range images (N, H, W, C), pooled to the DiT's
    token grid: (N, grid * grid, channels), in the DiT's token order (row by row)."""
    # in fp32 whatever the DiT's precision: bf16 convolutions are slow on CPUs
    with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
        features = teacher.feature_map(images.float())  # (N, channels, H/4, W/4)
        pooled = F.adaptive_avg_pool2d(features.float(), grid)  # (N, channels, grid, grid)
    return pooled.flatten(2).transpose(1, 2)  # (N, T, channels)


def alignment_loss(projected: Tensor, target: Tensor) -> Tensor:
    """1 - the mean cosine similarity of projected tokens and the teacher's, token by token."""
    return 1 - F.cosine_similarity(projected.float(), target, dim=-1).mean()


def load_teacher(
    params: AlignmentParams, folder: Path, class_names: tuple[str, ...]
) -> ResNet8 | None:
    """The trained classifier saved in `folder` (config.json, ema.safetensors), which must know
    `class_names`; None where the alignment is off."""
    if not params.weight:
        return None
    saved = read_record(SavedClassifier, folder / "config.json", "the trained classifier's config")
    if saved.class_names != class_names:
        raise PipelineError(
            f"{folder}: the classifier knows {list(saved.class_names)}, the generator's images "
            f"{list(class_names)}; rerun train_classifier before train_dit"
        )
    weights = folder / "ema.safetensors"
    return load_weights(ResNet8(saved.config), weights, "the trained classifier's weights")


def generator_of(model: nn.Module) -> DiT:
    """The DiT that a training run's model is or holds."""
    return model.dit if isinstance(model, AlignedDiT) else model  # type: ignore[return-value]
