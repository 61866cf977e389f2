"""Which images the pipeline learns from: the Pet archives read as the real ones are, and the
selection (species, classes, `other`, image size) the `data` params make."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.datasets import DataParams, Splits, kept_classes, learning_sets
from pipeline.data.formats import read_oxford_pets
from pipeline.data.images import DatasetError, ImageSet
from pipeline.generator.presets import CIFAR10
from tests.conftest import LIMITS, add_file, make_pet_archives, random_images

CATS = replace(CIFAR10, dataset="oxford_pets", species="cat")


def params_of(species: str | None, classes: list[str] | None, other: bool) -> DataParams:
    return replace(CIFAR10, species=species, classes=classes, other_class=other)


@pytest.fixture(scope="module")
def pets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Splits, list[str]]:
    files = make_pet_archives(tmp_path_factory.mktemp("pets"))
    return read_oxford_pets(*files.values(), LIMITS, image_size=32)


def test_pet_archives_give_breeds_named_as_the_files_with_their_species_and_split(
    pets: tuple[Splits, list[str]],
) -> None:
    splits, _ = pets
    assert splits.train.class_names == ("Abyssinian", "Bengal", "Sphynx", "beagle", "pug")
    assert splits.species == {"Abyssinian": "cat", "Bengal": "cat", "Sphynx": "cat",
                              "beagle": "dog", "pug": "dog"}  # fmt: skip
    # 6 per breed, even numbers in trainval; Sphynx_0 (trainval) cannot be read
    assert np.bincount(splits.train.labels).tolist() == [3, 3, 2, 3, 3]
    assert np.bincount(splits.test.labels).tolist() == [3, 3, 3, 3, 3]
    assert splits.train.images.shape[1:] == (32, 32, 3) and splits.train.images.dtype == np.uint8


def test_png_gif_cmyk_and_grayscale_under_jpg_become_rgb_and_the_unreadable_is_named(
    pets: tuple[Splits, list[str]],
) -> None:
    splits, unreadable = pets
    assert len(unreadable) == 1 and unreadable[0].startswith("images/Sphynx_0.jpg: ")
    grey = splits.test.images[splits.test.labels == 4][0]  # pug_1, saved as grayscale
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_more_unreadable_images_than_the_cap_fail_naming_them(tmp_path: Path) -> None:
    files = make_pet_archives(tmp_path)
    with pytest.raises(DatasetError, match=r"1 images cannot be read, over download.limits"):
        read_oxford_pets(*files.values(), replace(LIMITS, unreadable_images=0), image_size=32)


def test_an_annotations_archive_without_the_split_lists_is_refused(tmp_path: Path) -> None:
    import tarfile

    files = make_pet_archives(tmp_path)
    with tarfile.open(files["oxford_pets_annotations"], "w:gz") as archive:
        add_file(archive, "annotations/list.txt", b"Abyssinian_0 1 1 1\n")
    with pytest.raises(DatasetError, match="no annotations/trainval.txt and annotations/test.txt"):
        read_oxford_pets(*files.values(), LIMITS, image_size=32)


def test_species_keep_the_cats_and_other_gathers_the_dogs(pets: tuple[Splits, list[str]]) -> None:
    splits, _ = pets
    train, test = learning_sets(splits, CATS)
    assert train.class_names == ("Abyssinian", "Bengal", "Sphynx") and len(train.labels) == 8
    train, test = learning_sets(splits, replace(CATS, other_class=True, image_size=16))
    assert train.class_names == ("Abyssinian", "Bengal", "Sphynx", "other")
    assert np.bincount(test.labels).tolist() == [3, 3, 3, 6]
    assert test.images.shape[1:] == (16, 16, 3)


def cifar_like() -> Splits:
    names = ("airplane", "cat", "dog")
    data = ImageSet(random_images(9, size=32), np.arange(9) % 3, names)
    return Splits(data, data, {})


def test_classes_keep_a_subset_in_the_data_order() -> None:
    params = params_of(None, ["dog", "airplane"], False)
    train, _ = learning_sets(cifar_like(), params)
    assert train.class_names == ("airplane", "dog") and train.labels.tolist() == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (params_of("cat", None, False), "data.species is 'cat', but cifar10 has"),
        (params_of(None, ["zebra"], False), r"data.classes names \['zebra'\]"),
        (params_of(None, ["cat"], False), "a classifier needs two classes"),
    ],
)
def test_a_selection_the_data_cannot_meet_names_the_key(params: DataParams, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        kept_classes(cifar_like(), params)


def test_one_class_and_other_are_two_classes() -> None:
    params = params_of(None, ["cat"], True)
    train, _ = learning_sets(cifar_like(), params)
    assert train.class_names == ("cat", "other") and np.bincount(train.labels).tolist() == [3, 6]
