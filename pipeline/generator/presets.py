"""Named generator configurations, as the params they set.

    dvc exp run $(python -m pipeline.generator.presets gpu)    # queue or run one by name

Each preset names every param that defines the generator and how it is sampled, so that two
presets compared in one benchmark run, or two experiments, differ only where they say.
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

Preset = dict[str, dict[str, Any]]

_CPU_TRAIN = {
    "steps": 3000,
    "batch_size": 64,
    "lr": 0.0008,
    "min_lr": 0.00003,
    "warmup_steps": 150,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "ema_decay": 0.995,  # short runs: average over the last ~200 steps
    "label_dropout": 0.1,
    "time_sampling": "logit_normal",
    "hflip": True,
}

# fmt: off
# 4x4 patches straight into the transformer: fast on a CPU, so samples come out blocky.
_CPU_MODEL = {
    "patch_size": 4, "width": 128, "depth": 4, "heads": 2, "mlp_ratio": 4.0,
    "stem_channels": 0, "head_channels": 0, "long_skips": False,
}
PRESETS: dict[str, Preset] = {
    # The first default.
    "cpu-v1": {
        "model": _CPU_MODEL,
        "train": _CPU_TRAIN,
        "sample": {"solver": "euler", "steps": 20, "guidance_scale": 4.0},
    },
    # The default since the generator-quality ablation: the same network, twice the learning
    # rate and half the batch, so nearly twice the updates; 5,600 steps of 32 train in about the
    # time cpu-v1's 3,000 of 64 take (1.02x in the benchmark; README: the ablation).
    "cpu-v2": {
        "model": _CPU_MODEL,
        "train": {
            **_CPU_TRAIN, "steps": 5600, "batch_size": 32, "lr": 0.0016, "warmup_steps": 600,
            "ema_decay": 0.9975,  # averages over as many images as cpu-v1's 0.995 does
        },
        "sample": {"solver": "euler", "steps": 20, "guidance_scale": 4.0},
    },
    # DiT-S/2 sized (32M parameters, 256 tokens): for a GPU, where a step costs what cpu-v1's
    # does here.
    "gpu": {
        "model": {
            "patch_size": 2, "width": 384, "depth": 12, "heads": 6, "mlp_ratio": 4.0,
            "stem_channels": 0, "head_channels": 0, "long_skips": False,
        },
        "train": {
            **_CPU_TRAIN, "steps": 100_000, "batch_size": 256, "lr": 0.0003, "min_lr": 0.00001,
            "warmup_steps": 2000, "ema_decay": 0.9999,
        },
        "sample": {"solver": "euler", "steps": 20, "guidance_scale": 4.0},
    },
}
# fmt: on
DEFAULT = "cpu-v2"  # the preset params.yaml holds


def params_keys(preset: Preset) -> dict[str, Any]:
    """The preset as dotted params keys: train_dit.model.width, sample.steps, ..."""
    sections = {"model": "train_dit.model", "train": "train_dit.train", "sample": "sample"}
    return {
        f"{sections[section]}.{key}": value
        for section, values in preset.items()
        for key, value in values.items()
    }


def set_params_arguments(name: str) -> list[str]:
    """`dvc exp run` arguments that select preset `name`: -S key=value, one per param."""
    if name not in PRESETS:
        raise KeyError(f"no preset {name!r}; the presets are: {', '.join(PRESETS)}")
    return [
        part
        for key, value in params_keys(PRESETS[name]).items()
        for part in ("-S", f"{key}={_yaml_scalar(value)}")
    ]


def _yaml_scalar(value: Any) -> str:
    """How DVC's -S reads the value back (as YAML); no spaces, so `$(...)` can split the line."""
    return yaml.safe_dump(value).removesuffix("...\n").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(PRESETS))
    args = parser.parse_args()
    print(" ".join(set_params_arguments(args.name)))


if __name__ == "__main__":
    main()
