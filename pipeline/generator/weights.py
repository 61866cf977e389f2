"""The trained generator on disk: EMA weights as safetensors, the architecture and class names
as JSON beside them."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file

from pipeline.files import atomic_path, read_json, require_file, write_json
from pipeline.generator.dit import DiT, DiTConfig


def save_generator(model: DiT, class_names: tuple[str, ...], weights: Path, config: Path) -> None:
    with atomic_path(weights) as tmp:
        save_file(model.cpu().state_dict(), str(tmp))
    write_json(config, {**model.config.to_dict(), "class_names": list(class_names)})


def load_generator(weights: Path, config: Path) -> tuple[DiT, list[str]]:
    """The generator in eval mode, and its class names."""
    settings = read_json(require_file(config, "generator config"))
    class_names = settings.pop("class_names")
    model = DiT(DiTConfig.from_dict(settings)).eval()
    model.load_state_dict(load_file(str(require_file(weights, "generator weights"))))
    return model, class_names
