"""A git + DVC copy of the project with the slow parts shrunk, for tests that run DVC for real.

    python -m tests.tiny_pipeline DEST    # a tiny project at DEST after one `dvc repro`

The classifier is still judged on all of the data; the generator trains for seconds.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import yaml

from pipeline.generator.presets import PRESETS, params_keys
from tools.workspace import ROOT, Project, make_project

DEFAULT_MIRROR = ROOT.parent / "shared" / "mirror"


def tiny_params() -> dict:
    """The committed params with the slow parts shrunk: the `tiny` generator preset, and fewer
    images and rounds wherever a stage only measures."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in params_keys(PRESETS["tiny"]).items():
        *sections, name = key.split(".")
        section = params
        for part in sections:
            section = section[part]
        section[name] = list(value) if isinstance(value, tuple) else value
    params["train_classifier"]["train"].update(epochs=1, batch_size=256, checkpoint_every=100)
    params["keras_to_onnx"]["parity_images"] = 1000
    params["onnx_to_torch"]["parity_images"] = 1000
    params["onnx_eval"].update(throughput_batch_sizes=[256], throughput_rounds=5)
    params["quantize"].update(calibration_images=64, throughput_rounds=2)
    params["validate"].update(samples_per_class=5, bootstrap_rounds=20)
    params["validate"]["sweep"].update(
        guidance_scales=[1.0, 4.0], euler_steps=2, heun_steps=1, samples_per_class=2
    )
    # 20 steps learn no classes: the generator's quality gates are driven by their own tests.
    params["validate"]["gates"].update(conditional_accuracy_min=0.0, frechet_distance_max=1e6)
    return params


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def tiny_project(path: Path, mirror: Path) -> Project:
    return make_project(path, mirror, tiny_params())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="an empty or absent folder")
    args = parser.parse_args()
    mirror = Path(os.environ.get("DATA_MIRROR") or DEFAULT_MIRROR).resolve()
    args.dest.mkdir(parents=True, exist_ok=True)
    project = tiny_project(args.dest.resolve(), mirror)
    print(project.dvc("repro").stdout[-2000:])


if __name__ == "__main__":
    main()
