"""Class-conditional Diffusion Transformer (DiT) that predicts rectified-flow velocities.

Follows facebookresearch/DiT (adaLN-Zero blocks, fixed 2-D sin-cos position embedding) with two
changes: time is a flow time t in [0, 1] rather than a DDPM step, and the output is a velocity
with the same channels as the input (no learned variance). The network itself predicts either
that velocity or, as JiT does (Li & He, 2025), the clean image, from which the velocity follows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.data.images import CHANNELS
from pipeline.generator.flow import velocity_from_data
from pipeline.schema import SchemaError, bounded

log = logging.getLogger(__name__)
# velocity: the network outputs v = x1 - x0; data: it outputs the clean image x1, v derived
Prediction = Literal["velocity", "data"]


@dataclass(frozen=True)
class DiTArchitecture:
    """The shape of a DiT, whatever its data: the `train_dit.model` params."""

    patch_size: int = bounded(1, 64)
    width: int = bounded(8, 4096)
    depth: int = bounded(1, 128)
    heads: int = bounded(1, 64)
    mlp_ratio: float = bounded(0.5, 16.0)
    stem_channels: int = bounded(0, 1024)  # > 0: a 3x3 convolution before patchify (neighbours)
    head_channels: int = bounded(0, 1024)  # > 0: a 3x3 convolution after unpatchify (borders)
    long_skips: bool  # U-ViT: each late block also gets the output of its early twin
    prediction: Prediction  # data: a token need not carry its patch's noise through (JiT)

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise SchemaError(f"DiT width ({self.width}) must be divisible by heads ({self.heads})")
        # The 2-D sin-cos embedding gives each axis half the width, split again into sin and cos
        if self.width % 4:
            raise SchemaError(f"DiT width ({self.width}) must be divisible by 4")


@dataclass(frozen=True)
class DiTConfig(DiTArchitecture):
    """A DiT for its data: the architecture, the image size and the classes."""

    image_size: int = bounded(8, 4096)
    num_classes: int = bounded(1, 100_000)  # the null class of guidance comes on top
    channels: int = CHANNELS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size % self.patch_size:
            raise SchemaError(
                f"DiT image_size ({self.image_size}) must be divisible by patch_size "
                f"({self.patch_size})"
            )
        values = self.patch_size**2 * self.channels
        if self.prediction == "velocity" and values > self.width:
            log.warning(
                "train_dit.model: a %dx%d patch holds %d values but the width is %d; a network "
                "this narrow that predicts the velocity cannot carry a patch's noise through, "
                "and its samples keep it: set prediction: data, or a width of %d or more",
                self.patch_size, self.patch_size, values, self.width, values,
            )  # fmt: skip

    @classmethod
    def of(cls, architecture: DiTArchitecture, image_size: int, num_classes: int) -> DiTConfig:
        return cls(**asdict(architecture), image_size=image_size, num_classes=num_classes)

    @property
    def grid_size(self) -> int:
        """Number of patches along each side of the image."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Number of tokens the transformer sees."""
        return self.grid_size**2


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Apply per-sample adaLN shift and scale (N, D) to tokens (N, T, D)."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def sincos_pos_embed_2d(width: int, grid_size: int) -> Tensor:
    """Fixed 2-D sin-cos position embedding of shape (grid_size**2, width), row-major tokens."""
    coords = torch.arange(grid_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (G, G) each
    # First half of the channels encodes the column, second half the row, as in DiT/MAE
    emb = torch.cat(
        [_sincos_1d(width // 2, cols.flatten()), _sincos_1d(width // 2, rows.flatten())], dim=1
    )  # (G*G, D)
    return emb.float()


def _sincos_1d(dim: int, pos: Tensor) -> Tensor:
    """1-D sin-cos embedding of positions (M,) into (M, dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))  # (dim/2,)
    out = pos[:, None] * omega[None, :]  # (M, dim/2)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)  # (M, dim)


class TimestepEmbedder(nn.Module):
    """Embeds flow times t in [0, 1] into vectors: sinusoidal frequencies, then an MLP."""

    def __init__(self, width: int, frequency_size: int = 256, max_period: float = 10000.0):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_size, width),
            nn.SiLU(),
            nn.Linear(width, width),
        )
        half = frequency_size // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        # Derived from the constructor arguments, so kept out of the state dict
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        # Scale to DDPM's 0..1000 range, which these frequencies were designed for
        args = (t.float() * 1000)[:, None] * self.freqs[None, :]  # (N, F/2)
        t_freq = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (N, F)
        return self.mlp(t_freq)  # (N, D)


class LabelEmbedder(nn.Module):
    """Embeds class labels; the extra last row (index num_classes) is the CFG null class."""

    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, width)

    def forward(self, y: Tensor) -> Tensor:
        return self.embedding_table(y)  # (N, D)


class Attention(nn.Module):
    """Multi-head self-attention through fused scaled_dot_product_attention."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads)  # (N, T, 3, H, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, H, T, Dh)
        x = F.scaled_dot_product_attention(q, k, v)  # (N, H, T, Dh)
        x = x.transpose(1, 2).reshape(n, t, d)  # (N, T, D)
        return self.proj(x)  # (N, T, D)


class DiTBlock(nn.Module):
    """Transformer block whose norms are modulated by the conditioning (adaLN-Zero)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden, width),
        )
        self.adaln_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaln_modulation(
            c
        ).chunk(6, dim=1)  # each (N, D)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x  # (N, T, D)


class FinalLayer(nn.Module):
    """adaLN-modulated norm, then a Linear from tokens to flattened patches of `out_channels`."""

    def __init__(self, width: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, patch_size * patch_size * out_channels)
        self.adaln_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaln_modulation(c).chunk(2, dim=1)  # each (N, D)
        x = modulate(self.norm_final(x), shift, scale)  # (N, T, D)
        return self.linear(x)  # (N, T, p*p*C)


class DiT(nn.Module):
    """Diffusion Transformer mapping (x_t, t, y) to the rectified-flow velocity."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        pixels_in = config.stem_channels or config.channels
        if config.stem_channels:
            self.stem = nn.Sequential(
                nn.Conv2d(config.channels, pixels_in, 3, padding=1), nn.SiLU()
            )
        self.x_embedder = nn.Conv2d(
            pixels_in,
            config.width,
            kernel_size=config.patch_size,
            stride=config.patch_size,
        )
        self.t_embedder = TimestepEmbedder(config.width)
        self.y_embedder = LabelEmbedder(config.num_classes, config.width)
        # Fixed, recomputed from the config, so it stays out of the state dict
        pos_embed = sincos_pos_embed_2d(config.width, config.grid_size).unsqueeze(0)  # (1, T, D)
        self.register_buffer("pos_embed", pos_embed, persistent=False)
        self.blocks = nn.ModuleList(
            DiTBlock(config.width, config.heads, config.mlp_ratio) for _ in range(config.depth)
        )
        if config.long_skips:
            self.skips = nn.ModuleList(
                nn.Linear(2 * config.width, config.width) for _ in range(config.depth // 2)
            )
        pixels_out = config.head_channels or config.channels
        self.final_layer = FinalLayer(config.width, config.patch_size, pixels_out)
        if config.head_channels:
            self.head = nn.Sequential(
                nn.SiLU(), nn.Conv2d(pixels_out, config.channels, 3, padding=1)
            )
        self.initialize_weights()

    @property
    def null_class(self) -> int:
        """Label index that means "no class" for classifier-free guidance."""
        return self.config.num_classes

    def initialize_weights(self) -> None:
        """DiT's initialisation: Xavier Linears, then zero the adaLN and output layers."""

        def _basic_init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(_basic_init)

        # Initialise the patch embedding like a Linear over flattened patches (as in MAE)
        w = self.x_embedder.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)

        # Small normal init for the embedding table and timestep MLP, as in DiT
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)

        # Zero-out adaLN modulation layers so every block starts as the identity
        for block in self.blocks:
            nn.init.zeros_(block.adaln_modulation[-1].weight)
            nn.init.zeros_(block.adaln_modulation[-1].bias)

        # Zero-out the output layers so a fresh model predicts zero velocity (with a head, only
        # its last convolution: zeroing the Linear before it too would leave both without grads)
        nn.init.zeros_(self.final_layer.adaln_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaln_modulation[-1].bias)
        last = self.head[-1] if self.config.head_channels else self.final_layer.linear
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def unpatchify(self, x: Tensor) -> Tensor:
        """Turn patch tokens (N, T, p*p*C) back into images (N, C, H, W)."""
        p, g = self.config.patch_size, self.config.grid_size
        c = x.shape[-1] // (p * p)
        x = x.reshape(-1, g, g, p, p, c)  # (N, G, G, p, p, C)
        x = x.permute(0, 5, 1, 3, 2, 4)  # (N, C, G, p, G, p)
        return x.reshape(-1, c, g * p, g * p)  # (N, C, H, W)

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """Velocity for images x_t (N, C, H, W), times t (N,) in [0, 1], labels y (N,)."""
        x = self.stem(x_t) if self.config.stem_channels else x_t  # (N, S or C, H, W)
        x = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed  # (N, T, D)
        c = self.t_embedder(t) + self.y_embedder(y)  # (N, D)
        depth, early = len(self.blocks), []
        for i, block in enumerate(self.blocks):
            late = i - (depth - depth // 2)
            if self.config.long_skips and late >= 0:
                x = self.skips[late](torch.cat([x, early.pop()], dim=-1))  # (N, T, D)
            x = block(x, c)  # (N, T, D)
            if self.config.long_skips and i < depth // 2:
                early.append(x)
        x = self.unpatchify(self.final_layer(x, c))  # (N, C or H, H, W)
        out = self.head(x) if self.config.head_channels else x  # (N, C, H, W)
        if self.config.prediction == "data":
            return velocity_from_data(out, x_t, t)  # (N, C, H, W)
        return out  # (N, C, H, W)

    def forward_with_cfg(self, x: Tensor, t: Tensor, y: Tensor, guidance_scale: Tensor) -> Tensor:
        """Classifier-free guided velocity v_null + s * (v_cond - v_null), s of shape (N,)."""
        n = x.shape[0]
        y_null = torch.full_like(y, self.null_class)  # (N,)
        # One doubled batch: conditional first, null second
        v = self.forward(
            torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y_null])
        )  # (2N, C, H, W)
        v_cond, v_null = v[:n], v[n:]  # each (N, C, H, W)
        s = guidance_scale.to(v.dtype).reshape(-1, 1, 1, 1)  # (N, 1, 1, 1)
        return v_null + s * (v_cond - v_null)  # (N, C, H, W)


class GuidedDiT(nn.Module):
    """Wraps a DiT so that forward is forward_with_cfg (the graph exported to ONNX)."""

    def __init__(self, model: DiT):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, t: Tensor, y: Tensor, guidance_scale: Tensor) -> Tensor:
        return self.model.forward_with_cfg(x, t, y, guidance_scale)  # (N, C, H, W)
