"""A folder of one's own photos: the split (the folder's own, or seeded and written down), the
checks against bad data, and photos as cameras write them (EXIF, any aspect, odd formats)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.data.datasets import learning_sets
from pipeline.data.folder import read_photo_folder
from pipeline.data.images import DatasetError, decode_image
from pipeline.generator.presets import CIFAR10
from tests.conftest import LIMITS, image_bytes, photo, write_photos

PARAMS = replace(CIFAR10, dataset="folder", image_size=16, min_class_images=2)


def test_a_folder_without_a_split_is_split_per_class_with_its_seed_and_written_down(
    tmp_path: Path,
) -> None:
    write_photos(tmp_path, {"cat": 10, "dog": 5})
    (tmp_path / "README.md").write_text("not a class")
    splits, unreadable, held_out = read_photo_folder(tmp_path, PARAMS, LIMITS)
    assert splits.train.class_names == ("cat", "dog") and unreadable == []
    assert np.bincount(splits.test.labels).tolist() == [2, 1]  # 0.2 of each class, one at least
    assert np.bincount(splits.train.labels).tolist() == [8, 4]
    assert len(held_out) == 3 and all(name.startswith(("cat/", "dog/")) for name in held_out)
    assert read_photo_folder(tmp_path, PARAMS, LIMITS)[2] == held_out  # the same seed, the same
    other = read_photo_folder(tmp_path, replace(PARAMS, split_seed=1), LIMITS)[2]
    assert other != held_out


def test_copies_of_a_photo_stay_on_one_side_of_a_seeded_split(tmp_path: Path) -> None:
    write_photos(tmp_path, {"cat": 6, "dog": 6})
    for i in range(6):  # every cat twice, under another name
        original = tmp_path / "cat" / f"{i:03d}.jpg"
        (tmp_path / "cat" / f"copy-{i:03d}.jpg").write_bytes(original.read_bytes())
    _, _, held_out = read_photo_folder(tmp_path, replace(PARAMS, test_fraction=0.5), LIMITS)
    cats = [name.removeprefix("cat/") for name in held_out if name.startswith("cat/")]
    assert len(cats) == 6  # three photos held out, each with its copy
    assert sorted(c.removeprefix("copy-") for c in cats) == sorted(
        2 * [c for c in cats if "copy" not in c]
    )


def test_the_folders_own_train_and_test_are_used_and_a_photo_on_both_sides_is_named(
    tmp_path: Path,
) -> None:
    write_photos(tmp_path / "train", {"cat": 3, "dog": 3})
    write_photos(tmp_path / "test", {"cat": 1, "dog": 1}, seed=100)
    splits, _, _ = read_photo_folder(tmp_path, PARAMS, LIMITS)
    assert len(splits.train.labels) == 6 and len(splits.test.labels) == 2
    (tmp_path / "test" / "dog" / "leak.jpg").write_bytes(
        (tmp_path / "train/dog/002.jpg").read_bytes()
    )
    with pytest.raises(
        DatasetError, match=r"1 test photo\(s\) are byte for byte .*train/dog/002.jpg"
    ):
        read_photo_folder(tmp_path, PARAMS, LIMITS)


def test_a_class_with_too_few_photos_is_refused_with_its_count(tmp_path: Path) -> None:
    write_photos(tmp_path, {"cat": 12, "dog": 3})
    with pytest.raises(DatasetError, match=r"too few photos in class\(es\) dog \(3\): data.min"):
        read_photo_folder(tmp_path, replace(PARAMS, min_class_images=10), LIMITS)


def test_an_empty_or_missing_folder_says_what_to_put_there(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="one sub-folder of photos per class"):
        read_photo_folder(tmp_path / "raw", PARAMS, LIMITS)


def test_odd_files_are_converted_and_an_unreadable_one_is_named(tmp_path: Path) -> None:
    write_photos(tmp_path, {"cat": 4, "dog": 4})
    odd = {"cmyk.jpg": ("JPEG", "CMYK"), "grey.jpg": ("JPEG", "L"), "palette.png": ("PNG", "P"),
           "alpha.png": ("PNG", "RGBA"), "png-named.jpg": ("PNG", "RGB")}  # fmt: skip
    for name, (fmt, mode) in odd.items():
        (tmp_path / "cat" / name).write_bytes(image_bytes(photo(200, seed=len(name)), fmt, mode))
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a photo")
    splits, unreadable, _ = read_photo_folder(tmp_path, PARAMS, LIMITS)
    assert len(splits.train.labels) + len(splits.test.labels) == 4 + 5 + 4  # all but the broken
    assert len(unreadable) == 1 and "dog/broken.jpg" in unreadable[0]
    assert splits.train.images.shape[1:] == (16, 16, 3)


def test_the_other_class_gathers_the_classes_not_kept(tmp_path: Path) -> None:
    write_photos(tmp_path, {"cat": 5, "dog": 5, "fox": 5})
    splits, _, _ = read_photo_folder(tmp_path, PARAMS, LIMITS)
    train, _ = learning_sets(splits, replace(PARAMS, classes=["cat"], other_class=True))
    assert train.class_names == ("cat", "other") and np.bincount(train.labels).tolist() == [4, 8]


def exif_rotated(pixels: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def test_a_photo_is_turned_upright_by_its_exif_orientation() -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)  # landscape as stored: left half dark, right bright
    pixels[:, 20:] = 255
    upright = decode_image(exif_rotated(pixels, 6), "p.jpg", Path("raw"))  # 6: rotate 90° cw
    assert upright.shape == (40, 20, 3)  # portrait, as the camera was held
    assert upright[:15].mean() < 60 and upright[25:].mean() > 200  # the dark half on top


@pytest.mark.parametrize(("aspect", "band"), [("squash", 2), ("center_crop", 6), ("pad", 2)])
def test_an_aspect_policy_makes_a_wide_photo_square(aspect: str, band: int) -> None:
    pixels = np.full((20, 60, 3), 255, np.uint8)  # wide and white, a dark band in the middle
    pixels[:, 25:35] = 0
    square = decode_image(image_bytes(pixels, "PNG"), "p.png", Path("raw"), 12, aspect)
    assert square.shape == (12, 12, 3)
    assert square[6, 0].mean() > 200  # the photo's white edge, mid-height
    assert (square[0].mean() < 30) == (aspect == "pad")  # pad: black above the photo
    assert (square[6] < 100).all(axis=1).sum() == band  # the dark band: a sixth, or half


def test_a_large_jpeg_is_read_at_a_fraction_of_its_size() -> None:
    big = image_bytes(photo(128, size=(4000, 3000)), "JPEG")
    with Image.open(io.BytesIO(big)) as image:
        image.draft("RGB", (32, 32))
        assert image.size == (500, 375)  # what decode_image asks the decoder for
    assert decode_image(big, "big.jpg", Path("raw"), 32).shape == (32, 32, 3)
