"""Copy the pipeline's ONNX models into web/public/models/ and describe them in manifest.json.

    python web/scripts/bundle_models.py [--project DIR]

Everything the app needs to know about a model (its role, class names, input and output names,
image size, channels, layout, value range) is read from the model's own metadata_props, so the
app never hard-codes them. The sha256 of each file lets the app tell a stale copy from a fresh one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

WEB = Path(__file__).resolve().parents[1]
DESTINATION = WEB / "public" / "models"
MANIFEST = "manifest.json"
FIX = "run `dvc repro` first"


@dataclass(frozen=True)
class Bundled:
    """One model the app uses: where the pipeline writes it and what the app calls it."""

    id: str
    source: str  # relative to the project
    role: str
    precision: str
    required: bool = True


MODELS = (
    Bundled("dit", "models/dit.onnx", "generator", "fp32"),
    Bundled("resnet8", "models/resnet8.onnx", "classifier", "fp32"),
    Bundled("resnet8_int8", "models/quantized/resnet8_int8.onnx", "classifier", "int8"),
    Bundled("resnet8_fp16", "models/quantized/resnet8_fp16.onnx", "classifier", "fp16", False),
)

# The metadata keys each role must carry, and the manifest keys they become.
COMMON_KEYS = ("role", "class_names", "output_name", "image_size", "channels", "layout")
ROLE_KEYS = {
    "classifier": ("input_name", "input_range"),
    "generator": ("input_names", "value_range", "null_class"),
}
LAYOUTS = ("NHWC", "NCHW")


class BundleError(Exception):
    """A model is missing or lacks what the app needs; the message says which and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_range(path: Path, key: str, value: str) -> list[float]:
    """'lo,hi' -> [lo, hi]."""
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError as err:
        raise BundleError(f"{path}: metadata {key}={value!r} is not 'low,high'; {FIX}") from err
    if not low < high:
        raise BundleError(f"{path}: metadata {key}={value!r} is an empty range; {FIX}")
    return [low, high]


def parse_json_list(path: Path, key: str, value: str) -> list[str]:
    try:
        items = json.loads(value)
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: metadata {key} is not JSON ({err}); {FIX}") from err
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise BundleError(f"{path}: metadata {key} is not a JSON list of strings; {FIX}")
    return items


def parse_int(path: Path, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise BundleError(f"{path}: metadata {key}={value!r} is not an integer; {FIX}") from err


def describe(model: Bundled, path: Path) -> dict[str, Any]:
    """The manifest entry of one model file, from its metadata_props."""
    try:
        graph_model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf raises its own DecodeError on a truncated file
        raise BundleError(f"{path}: not a readable ONNX model ({err}); {FIX}") from err
    metadata = {prop.key: prop.value for prop in graph_model.metadata_props}
    needed = (*COMMON_KEYS, *ROLE_KEYS[model.role])
    missing = [key for key in needed if key not in metadata]
    if missing:
        raise BundleError(
            f"{path}: metadata_props lack {', '.join(missing)}; the model was written by a "
            f"pipeline that does not record them, {FIX}"
        )
    if metadata["role"] != model.role:
        raise BundleError(f"{path}: metadata role is {metadata['role']!r}, not {model.role!r}")
    if model.role == "classifier":
        input_names = [metadata["input_name"]]
        ranges = {"input_range": parse_range(path, "input_range", metadata["input_range"])}
    else:
        input_names = parse_json_list(path, "input_names", metadata["input_names"])
        ranges = {
            "value_range": parse_range(path, "value_range", metadata["value_range"]),
            "null_class": parse_int(path, "null_class", metadata["null_class"]),
        }
    graph_inputs = [value.name for value in graph_model.graph.input]
    graph_outputs = [value.name for value in graph_model.graph.output]
    if sorted(input_names) != sorted(graph_inputs) or metadata["output_name"] not in graph_outputs:
        raise BundleError(
            f"{path}: metadata names inputs {input_names} and output "
            f"{metadata['output_name']!r}, but the graph has {graph_inputs} -> {graph_outputs}"
        )
    if metadata["layout"] not in LAYOUTS:
        raise BundleError(f"{path}: metadata layout {metadata['layout']!r} is not one of {LAYOUTS}")
    return {
        "id": model.id,
        "file": f"{model.id}.onnx",
        "source": model.source,
        "precision": model.precision,
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "role": model.role,
        "class_names": parse_json_list(path, "class_names", metadata["class_names"]),
        "input_names": input_names,
        "output_name": metadata["output_name"],
        "image_size": parse_int(path, "image_size", metadata["image_size"]),
        "channels": parse_int(path, "channels", metadata["channels"]),
        "layout": metadata["layout"],
        **ranges,
    }


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
    if destination.exists():
        shutil.rmtree(destination)  # a model dropped from the pipeline must not linger
    destination.mkdir(parents=True)
    for entry, path in zip(entries, sources, strict=True):
        shutil.copyfile(path, destination / entry["file"])
    manifest = {"models": entries}
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", type=Path, default=WEB.parent, help="the DVC project (default: the repo root)"
    )
    parser.add_argument("--out", type=Path, default=DESTINATION, help="where the app serves them")
    args = parser.parse_args()
    try:
        entries = bundle(args.project.resolve(), args.out)
    except BundleError as err:
        sys.exit(f"error: {err}")
    for entry in entries:
        size, digest = f"{entry['bytes']:,}", entry["sha256"][:12]
        print(f"{entry['file']:<20} {size:>11} bytes  {digest}  {entry['role']}")
    print(f"wrote {args.out / MANIFEST}")


if __name__ == "__main__":
    main()
