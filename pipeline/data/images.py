"""Image sets as the pipeline keeps them: uint8 NHWC RGB arrays with labels and class names."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from pipeline.errors import PipelineError
from pipeline.files import save_npz

CHANNELS = 3  # RGB everywhere: decoded images, model inputs, generated samples

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# How a photo that is not square becomes one: stretched whole, its central square, or padded
Aspect = Literal["squash", "center_crop", "pad"]


class DatasetError(PipelineError):
    """A source's content does not have the layout its format promises."""


@dataclass(frozen=True)
class ImageSet:
    """Images (N, H, W, 3) uint8 RGB, labels (N,) int64, and the name of each label."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        shape = self.images.shape
        if len(shape) != 4 or shape[-1] != CHANNELS or self.images.dtype != np.uint8:
            raise DatasetError(
                f"images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),):
            raise DatasetError(f"{len(self.images)} images but labels of shape {self.labels.shape}")

    def subset(self, indices: np.ndarray) -> ImageSet:
        return ImageSet(self.images[indices], self.labels[indices], self.class_names)

    def select(self, classes: tuple[str, ...]) -> ImageSet:
        """Only the images of `classes`, relabelled 0.. in the set's own class order."""
        missing = sorted(set(classes) - set(self.class_names))
        if missing:
            raise DatasetError(f"no class(es) {missing} among {list(self.class_names)}")
        names = tuple(name for name in self.class_names if name in classes)
        old = np.array([self.class_names.index(name) for name in names])
        new = np.full(len(self.class_names), -1)
        new[old] = np.arange(len(names))
        keep = np.isin(self.labels, old)
        return ImageSet(self.images[keep], new[self.labels[keep]], names)

    @property
    def image_size(self) -> int:
        return self.images.shape[1]

    def save(self, path: Path) -> None:
        save_npz(
            path, images=self.images, labels=self.labels, class_names=np.array(self.class_names)
        )

    @classmethod
    def load(cls, path: Path) -> ImageSet:
        if not Path(path).is_file():
            raise DatasetError(f"{path}: not found; run the `download` stage first (dvc repro)")
        with np.load(path, allow_pickle=False) as data:
            return cls(
                data["images"],
                data["labels"].astype(np.int64),
                tuple(str(c) for c in data["class_names"]),
            )


def decode_image(
    data: bytes, name: str, archive: Path, size: int | None = None, aspect: Aspect = "squash"
) -> np.ndarray:
    """Decode one image file, whatever its name says it is (PNG or GIF bytes under `.jpg`, CMYK,
    grayscale, palette), turned upright by its EXIF orientation, to (H, W, 3) uint8 RGB,
    optionally brought to size x size by `aspect`."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if size is not None and image.format == "JPEG":
                image.draft("RGB", (size, size))  # a large photo decodes at a fraction of its size
            upright = ImageOps.exif_transpose(image)
            return resized(upright.convert("RGB"), size, aspect)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DatasetError(f"{archive}: member {name} is not a readable image ({err})") from err


def resized(rgb: Image.Image, size: int | None, aspect: Aspect = "squash") -> np.ndarray:
    """A square of size x size (bicubic, as the browser app resizes too), or the image as it is.
    `squash` stretches the whole image, `center_crop` keeps its central square, `pad` fits it
    whole on black."""
    if size is not None and rgb.size != (size, size):
        width, height = rgb.size
        side = min(width, height) if aspect == "center_crop" else max(width, height)
        if aspect == "center_crop":
            left, top = (width - side) // 2, (height - side) // 2
            rgb = rgb.crop((left, top, left + side, top + side))
        elif aspect == "pad" and width != height:
            square = Image.new("RGB", (side, side))
            square.paste(rgb, ((side - width) // 2, (side - height) // 2))
            rgb = square
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)


def resize_images(data: ImageSet, size: int) -> ImageSet:
    """The set with every image resized to size x size (as it is, where it already is)."""
    if data.image_size == size:
        return data
    images = np.stack([resized(Image.fromarray(image), size) for image in data.images])
    return ImageSet(images, data.labels, data.class_names)
