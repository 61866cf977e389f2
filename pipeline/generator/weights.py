"""The trained generator on disk: EMA weights as safetensors, the configuration and class names
as JSON beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.generator.dit import DiT, DiTConfig
from pipeline.records import read_record, write_record
from pipeline.training.weights import load_weights, save_weights


@dataclass(frozen=True)
class GeneratorConfig:
    """models/dit/config.json: what builds the network the weights belong to."""

    config: DiTConfig
    class_names: tuple[str, ...]


def save_generator(model: DiT, class_names: tuple[str, ...], weights: Path, config: Path) -> None:
    save_weights(model, weights)
    write_record(config, GeneratorConfig(model.config, tuple(class_names)))


def load_generator(weights: Path, config: Path) -> tuple[DiT, tuple[str, ...]]:
    """The generator in eval mode, and its class names."""
    saved = read_record(GeneratorConfig, config, "the generator config (train_dit)")
    return load_weights(DiT(saved.config), weights, "generator weights"), saved.class_names
