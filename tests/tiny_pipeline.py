"""A git + DVC copy of the project with the slow parts shrunk, for tests that run DVC for real.

    python -m tests.tiny_pipeline DEST                       # a tiny project after `dvc repro`
    python -m tests.tiny_pipeline --preset cat-breeds DEST   # a preset at its own shapes

The classifier is still judged on all of the data; the generator trains for seconds. A preset
keeps its data, image size, network and classes, and only its counts are cut; one that learns
from the Oxford-IIIT Pet archives gets a small pair made in the official layout.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import yaml

from pipeline.generator.presets import PRESETS, params_keys
from tests.conftest import PET_BREEDS_FULL, mirror_with_pets
from tools.workspace import ROOT, Project, make_project

DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


def with_preset(params: dict, name: str) -> dict:
    """`params` with every key preset `name` sets."""
    for key, value in params_keys(PRESETS[name]).items():
        *sections, last = key.split(".")
        section = params
        for part in sections:
            section = section[part]
        section[last] = value
    return params


def shrunk(params: dict) -> dict:
    """Fewer images and rounds wherever a stage only measures, one classifier epoch."""
    params["train_classifier"]["train"].update(epochs=1, batch_size=256, checkpoint_every=100)
    # an epoch of 10 steps: what the stage does, not how well, is under test; its accuracy
    # gates stay where the converted model's weights are (they are driven by their own tests)
    params["train_classifier"].update(train_images=2560, val_images=512)
    params["validate"]["gates"].update(trained_accuracy_min=0.0, trained_gain_min=-1.0)
    # 64 calibration images for a network ten steps from its start (a fresh output layer, for a
    # class subset): int8 loses a few points; the gate itself is driven by the gates test
    params["validate"]["gates"]["trained_int8_accuracy_drop_max"] = 0.05
    params["keras_to_onnx"]["parity_images"] = 1000
    params["onnx_to_torch"]["parity_images"] = 1000
    params["onnx_eval"].update(throughput_batch_sizes=[256], throughput_rounds=5)
    params["quantize"].update(calibration_images=64, throughput_rounds=2)
    params["train_dit"]["progress"].update(every=10, per_class=1, steps=2)
    params["validate"].update(samples_per_class=5, bootstrap_rounds=20)
    params["validate"]["cas"].update(samples_per_class=4, epochs=1)
    params["validate"]["sweep"].update(
        guidance_scales=[1.0, 4.0], euler_steps=2, heun_steps=1, samples_per_class=2
    )
    # Seconds of training learn no classes: the quality gates are driven by their own tests.
    params["validate"]["gates"].update(
        conditional_accuracy_min=0.0,
        held_out_accuracy_min=0.0,
        frechet_distance_max=1e6,
        cas_ratio_min=0.0,
    )
    return params


def tiny_params() -> dict:
    """The committed params with the slow parts shrunk: the `tiny` generator preset, and fewer
    images and rounds wherever a stage only measures."""
    params = shrunk(with_preset(committed_params(), "tiny"))
    # 62K parameters: the graph's own bytes weigh against them (4.9 bytes a parameter)
    params["validate"]["gates"]["generator_bytes_per_parameter_max"] = 6.0
    return params


def preset_params(name: str) -> dict:
    """Preset `name` at its own shapes (data, image size, network, classes), with its training
    cut to seconds and the classifier's accuracy gate to what seconds reach."""
    params = shrunk(with_preset(committed_params(), name))
    params["train_dit"]["train"].update(steps=8, batch_size=8, warmup_steps=2, checkpoint_every=4)
    # No reader takes a shape from the network's size: a wider one only costs minutes on a CPU
    model = params["train_dit"]["model"]
    model.update(width=min(model["width"], 128), depth=min(model["depth"], 4),
                 heads=min(model["heads"], 2))  # fmt: skip
    params["train_classifier"]["val_images"] = min(params["train_classifier"]["val_images"], 24)
    params["sample"].update(steps=3, per_class=2)
    params["validate"]["gates"]["trained_accuracy_min"] = 0.0
    return params


def needs_pets(params: dict) -> bool:
    return params["data"]["dataset"] == "oxford_pets"


def committed_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def tiny_project(path: Path, mirror: Path) -> Project:
    return make_project(path, mirror, tiny_params())


def preset_project(path: Path, mirror: Path, name: str) -> Project:
    """A project of preset `name` at its own shapes (tiny counts); the Pet archives it needs are
    made beside it, with all twelve cat breeds, a few dogs and the odd files of the real ones."""
    params = preset_params(name)
    if needs_pets(params):
        mirror = mirror_with_pets(path.parent / f"{path.name}-mirror", mirror,
                                  per_breed=8, size=80, breeds=PET_BREEDS_FULL)  # fmt: skip
    return make_project(path, mirror, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="an empty or absent folder")
    parser.add_argument("--preset", choices=list(PRESETS), help="a preset at its own shapes")
    args = parser.parse_args()
    mirror = Path(os.environ.get("DATA_MIRROR") or DEFAULT_MIRROR).resolve()
    dest = args.dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    if args.preset:
        project = preset_project(dest, mirror, args.preset)
    else:
        project = tiny_project(dest, mirror)
    print(project.dvc("repro").stdout[-2000:])


if __name__ == "__main__":
    main()
