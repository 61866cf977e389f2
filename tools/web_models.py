"""Copy the pipeline's ONNX models into the browser app and describe them in manifest.json.

    python -m tools.web_models [--project DIR] [--out web/public/models]

Everything the app needs to know about a model (its role, class names, input and output names,
image size, channels, layout, value range) is read from the model's own metadata, through the
same typed records the pipeline writes it with, so the app never hard-codes them. The sha256 of
each file lets the app tell a stale copy from a fresh one. The manifest's `sampling` record says
which generator and settings the app starts with (see `sampling`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.datasets import DataParams
from pipeline.errors import PipelineError
from pipeline.files import file_digest
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.sampling import SampleParams
from pipeline.params import load_params
from pipeline.project import paths
from pipeline.records import read_record
from pipeline.runtime.models import ModelInfo, read_info
from tools.app_sampling import REPORT as APP_SAMPLING
from tools.app_sampling import AppSampling

ROOT = Path(__file__).resolve().parents[1]
DESTINATION = ROOT / "web" / "public" / "models"
MANIFEST = "manifest.json"
FIX = "run `dvc repro` first"
SAMPLING_KEYS = ("solver", "steps", "guidance_scale", "guidance_interval", "time_shift")


@dataclass(frozen=True)
class Bundled:
    """One model the app uses: where the pipeline writes it and what the app calls it."""

    id: str
    source: Path  # relative to the project
    info: type[ModelInfo]
    precision: str
    family: str = ""  # which model this is a variant of, for the app's pickers
    required: bool = True


FAMILIES = {  # the app's picker lists them in this order; the first is the default
    "trained classifier": ("classifier", paths.CLASSIFIER_VARIANTS),
    "converted ResNet-8": ("resnet8", paths.CONVERTED_VARIANTS),
}
MODELS = (
    Bundled("dit", paths.GENERATOR_ONNX, GeneratorInfo, "fp32", "generator"),
    Bundled("dit_int8", paths.GENERATOR_VARIANTS["int8"], GeneratorInfo, "int8", "generator",
            required=False),
    *(
        Bundled(name if precision == "fp32" else f"{name}_{precision}", path, ClassifierInfo,
                precision, family, required=precision != "fp16")
        for family, (name, variants) in FAMILIES.items()
        for precision, path in variants.items()
    ),
)  # fmt: skip


class BundleError(PipelineError):
    """A model is missing or lacks what the app needs; the message says which and what to do."""


def describe(model: Bundled, path: Path) -> dict[str, Any]:
    """The manifest entry of one model file: its metadata, checked against its graph."""
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
        info = read_info(model.info, path)
    except PipelineError as err:
        raise BundleError(str(err)) from None
    except Exception as err:  # protobuf raises its own DecodeError on a truncated file
        raise BundleError(f"{path}: not a readable ONNX model ({err}); {FIX}") from err
    facts = json.loads(json.dumps(dataclasses.asdict(info)))  # as the manifest will hold them
    inputs = list(facts.pop("input_names", None) or [facts.pop("input_name")])
    graph_inputs = [value.name for value in graph.input]
    graph_outputs = [value.name for value in graph.output]
    if sorted(inputs) != sorted(graph_inputs) or info.output_name not in graph_outputs:
        raise BundleError(
            f"{path}: metadata names inputs {inputs} and output {info.output_name!r}, but the "
            f"graph has {graph_inputs} -> {graph_outputs}"
        )
    named = {"family": model.family, "label": f"{model.family} ({model.precision})"}
    return {
        "id": model.id,
        "file": f"{model.id}.onnx",
        "source": model.source.as_posix(),
        "precision": model.precision,
        **(named if model.family else {}),
        "bytes": path.stat().st_size,
        "sha256": file_digest(path),
        **facts,
        "input_names": inputs,
    }


@dataclass(frozen=True)
class Params:
    data: DataParams  # its aspect: how the classifiers' photos were made square
    sample: SampleParams


def sampling(project: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """How the app samples by default: the choice of reports/app_sampling.json where it judged
    these very graphs at the pipeline's guidance, else the pipeline's own `sample` params."""
    sample = load_params(Params, project / "params.yaml").sample
    pipeline = {"generator": "dit", **{key: getattr(sample, key) for key in SAMPLING_KEYS},
                "source": "params.yaml (sample)"}  # fmt: skip
    path = project / APP_SAMPLING
    if not path.is_file():
        return pipeline
    report = read_record(AppSampling, path, "python -m tools.app_sampling")
    chosen = report.chosen
    generator = next((e for e in entries if e["role"] == "generator"
                      and e["precision"] == chosen.precision), None)  # fmt: skip
    guided = ("solver", "guidance_scale", "guidance_interval")
    if (
        generator is None
        or report.graphs.get(chosen.precision) != generator["sha256"]
        or any(getattr(report.sample, key) != getattr(sample, key) for key in guided)
    ):
        print(f"note: {APP_SAMPLING} judged other graphs or guidance; the app samples as "
              "params.yaml says (rerun python -m tools.app_sampling)", file=sys.stderr)  # fmt: skip
        return pipeline
    return {**pipeline, "generator": generator["id"], "steps": chosen.steps,
            "time_shift": chosen.time_shift, "source": APP_SAMPLING.as_posix()}  # fmt: skip


def bundle(project: Path, destination: Path = DESTINATION) -> list[dict[str, Any]]:
    """Check every model first, then replace destination's contents with the models and manifest."""
    entries, sources = [], []
    for model in MODELS:
        path = project / model.source
        if not path.is_file():
            if model.required:
                raise BundleError(f"{path}: not found; {FIX} in {project}")
            continue
        entries.append(describe(model, path))
        sources.append(path)
    aspect = load_params(Params, project / "params.yaml").data.aspect
    manifest = {"models": entries, "sampling": sampling(project, entries), "aspect": aspect}
    if destination.exists():
        shutil.rmtree(destination)  # a model dropped from the pipeline must not linger
    destination.mkdir(parents=True)
    for entry, path in zip(entries, sources, strict=True):
        shutil.copyfile(path, destination / entry["file"])
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the DVC project (default: this repository)"
    )
    parser.add_argument("--out", type=Path, default=DESTINATION, help="where the app serves them")
    args = parser.parse_args()
    try:
        entries = bundle(args.project.resolve(), args.out)
    except PipelineError as err:  # a model, params.yaml or the app sampling report
        sys.exit(f"error: {err}")
    for entry in entries:
        size, digest = f"{entry['bytes']:,}", entry["sha256"][:12]
        print(f"{entry['file']:<20} {size:>11} bytes  {digest}  {entry['role']}")
    print(f"wrote {args.out / MANIFEST}")


if __name__ == "__main__":
    main()
