"""The trained generator on disk: EMA weights as safetensors, the configuration and class names
as JSON beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from pipeline.files import atomic_path, require_file
from pipeline.generator.dit import DiT, DiTConfig
from pipeline.records import read_record, write_record


@dataclass(frozen=True)
class GeneratorConfig:
    """models/dit/config.json: what builds the network the weights belong to."""

    config: DiTConfig
    class_names: tuple[str, ...]


def save_generator(model: DiT, class_names: tuple[str, ...], weights: Path, config: Path) -> None:
    with atomic_path(weights) as tmp:
        save_file(model.cpu().state_dict(), str(tmp))
    write_record(config, GeneratorConfig(model.config, tuple(class_names)))


def load_generator(weights: Path, config: Path) -> tuple[DiT, tuple[str, ...]]:
    """The generator in eval mode, and its class names."""
    saved = read_record(GeneratorConfig, config, "the generator config (train_dit)")
    model = DiT(saved.config).eval()
    model.load_state_dict(load_file(str(require_file(weights, "generator weights"))))
    return model, saved.class_names
