"""What `validate` registers: every model file the pipeline ships, under its registry name, with
a small input example (real test images for classifiers, random feeds for the generator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import ImageSet, resize_images
from pipeline.generator.graph import GeneratorInfo, random_inputs
from pipeline.project import paths
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import to_input

FAMILIES = {  # registry name prefix: the variants of one model
    "classifier": paths.CLASSIFIER_VARIANTS,
    "resnet8": paths.CONVERTED_VARIANTS,
    "generator": paths.GENERATOR_VARIANTS,
}


def registry_name(family: str, precision: str) -> str:
    return family if precision == "fp32" else f"{family}-{precision}"


def example(family: str, path: Path, images: ImageSet) -> dict[str, np.ndarray]:
    """Two inputs the model at `path` takes, as its metadata describes them: test images at the
    classifier's own size (the converted model's 32 px beside a 64 px trained one)."""
    if family == "generator":
        return random_inputs(read_info(GeneratorInfo, path), 2, seed=0)
    info = read_info(ClassifierInfo, path)
    pair = resize_images(images.subset(np.arange(2)), info.image_size)
    return {info.input_name: to_input(pair.images)}


def released_models(images: ImageSet) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    """Every model file, by registry name, with an input example."""
    return {
        registry_name(family, precision): (path, example(family, path, images))
        for family, variants in FAMILIES.items()
        for precision, path in variants.items()
    }
