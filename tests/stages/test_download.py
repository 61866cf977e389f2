"""The `download` stage and the source resolution it relies on, on small data built here."""

import hashlib
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.data.sources import (
    Source,
    SourceError,
    SourceParams,
    fetch,
    mirror_from_env,
    resolve,
    verify_checksum,
)
from tests.conftest import (
    LIMITS,
    make_imagefolder_tar,
    make_pet_archives,
    random_images,
    run_module,
    write_gzip_bomb,
    write_params,
)
from tests.unit.test_formats import make_ic01_tar

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens there
HDF5_HEADER = b"\x89HDF\r\n\x1a\n" + b"\0" * 100


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_mirror(root: Path) -> Path:
    """A mirror holding a fake Keras file, a tiny imagefolder tar and a tiny ic01 tar."""
    mirror = root / "mirror"
    mirror.mkdir()
    (mirror / "model.h5").write_bytes(HDF5_HEADER)
    make_imagefolder_tar(
        mirror / "images.tar.gz", classes=tuple(f"k{i}" for i in range(10)), per_class=1
    )
    make_ic01_tar(mirror / "ic01.tar.gz", random_images(2, seed=9), [3, 4])
    index = {
        name: {"file": file, "sha256": sha256(mirror / file), "format": fmt}
        for name, file, fmt in [
            ("resnet8_keras", "model.h5", "keras-h5"),
            ("cifar10", "images.tar.gz", "imagefolder-tar"),
            ("perf_samples", "ic01.tar.gz", "eembc-ic01-tar"),
        ]
    }
    (mirror / "sources.yaml").write_text(yaml.safe_dump(index))
    return mirror


def download_params() -> dict:
    source = {"url": UNREACHABLE, "checksum": "md5:" + "0" * 32}
    return {
        "download": {
            "timeout_s": 5,
            "limits": dict(vars(LIMITS)),
            "sources": {
                "resnet8_keras": {**source, "format": "keras-h5"},
                "cifar10": {**source, "format": "cifar10-python"},
                "perf_samples": {**source, "format": "npy-indices"},
                "oxford_pets_images": {
                    "url": f"{UNREACHABLE}images.tar.gz", "checksum": "md5:0",
                    "format": "oxford-pets-images",
                },
                "oxford_pets_annotations": {
                    "url": f"{UNREACHABLE}annotations.tar.gz", "checksum": "md5:0",
                    "format": "oxford-pets-annotations",
                },
            },
        },
        "data": {"dataset": "cifar10", "species": None, "classes": None, "other_class": False,
                 "image_size": 32, "aspect": "squash", "test_fraction": 0.2, "split_seed": 0,
                 "min_class_images": 10},
    }  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "project"
    work.mkdir()
    write_params(work, download_params())
    return work


def outputs(work: Path) -> list[str]:
    return sorted(
        str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() and p.name != "params.yaml"
    )


def test_download_from_mirror_writes_arrays_and_provenance(workdir: Path) -> None:
    mirror = make_mirror(workdir.parent)
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)})
    assert result.returncode == 0, result.stderr
    assert outputs(workdir) == [
        "data/cifar10/perf.npz",
        "data/cifar10/test.npz",
        "data/cifar10/train.npz",
        "data/images/test.npz",
        "data/images/train.npz",
        "models/resnet8.h5",
        "reports/provenance.json",
    ]
    learnt = (workdir / "data/images/train.npz").read_bytes()
    assert learnt == (workdir / "data/cifar10/train.npz").read_bytes()  # all of CIFAR-10, as it is
    with np.load(workdir / "data/cifar10/perf.npz") as perf:
        np.testing.assert_array_equal(perf["labels"], [3, 4])
        assert list(perf["class_names"]) == [f"k{i}" for i in range(10)]
    provenance = json.loads((workdir / "reports/provenance.json").read_text())
    assert provenance["sources"]["cifar10"] == {
        "location": "images.tar.gz",
        "mirror": True,
        "format": "imagefolder-tar",
        "checksum": f"sha256:{sha256(mirror / 'images.tar.gz')}",
    }
    assert provenance["images"] == {
        "cifar10_train": 10, "cifar10_test": 10, "cifar10_perf": 2, "train": 10, "test": 10
    }  # fmt: skip
    assert provenance["dataset"] == "cifar10" and provenance["unreadable"] == []


def pet_params() -> dict:
    params = download_params()
    params["data"].update(dataset="oxford_pets", species="cat", other_class=True, image_size=24)
    return params


def test_the_pet_cats_are_learnt_with_the_dogs_as_other_and_the_broken_file_named(
    workdir: Path,
) -> None:
    mirror = make_mirror(workdir.parent)
    index = yaml.safe_load((mirror / "sources.yaml").read_text())
    for name, path in make_pet_archives(mirror / "pets").items():
        index[name] = {"file": f"pets/{path.name}", "sha256": sha256(path),
                       "format": name.replace("oxford_pets_", "oxford-pets-")}  # fmt: skip
    (mirror / "sources.yaml").write_text(yaml.safe_dump(index))
    write_params(workdir, pet_params())
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)})
    assert result.returncode == 0, result.stderr
    assert "skipped an unreadable image: images/Sphynx_0.jpg" in result.stderr
    with np.load(workdir / "data/images/test.npz") as test:
        assert list(test["class_names"]) == ["Abyssinian", "Bengal", "Sphynx", "other"]
        assert test["images"].shape[1:] == (24, 24, 3)
    provenance = json.loads((workdir / "reports/provenance.json").read_text())
    assert provenance["unreadable"][0].startswith("images/Sphynx_0.jpg")
    assert set(provenance["sources"]) == {
        "resnet8_keras", "cifar10", "perf_samples", "oxford_pets_images", "oxford_pets_annotations"
    }  # fmt: skip


def test_the_pet_dataset_offline_and_without_a_mirror_entry_names_both_archives(
    workdir: Path,
) -> None:
    write_params(workdir, pet_params())
    result = run_module(
        "stages.download", workdir, env={"DATA_MIRROR": str(make_mirror(workdir.parent))}
    )
    assert result.returncode == 1
    assert "the dataset needs images.tar.gz and annotations.tar.gz" in result.stderr
    assert "oxford_pets_images, oxford_pets_annotations" in result.stderr
    assert "set DATA_MIRROR" in result.stderr
    assert outputs(workdir) == []


def test_checksum_mismatch_fails_naming_the_source_and_writes_nothing(workdir: Path) -> None:
    mirror = make_mirror(workdir.parent)
    index = yaml.safe_load((mirror / "sources.yaml").read_text())
    index["perf_samples"]["sha256"] = "0" * 64
    (mirror / "sources.yaml").write_text(yaml.safe_dump(index))
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)})
    assert result.returncode == 1
    assert "source 'perf_samples': sha256 of" in result.stderr
    assert "ic01.tar.gz" in result.stderr
    assert outputs(workdir) == []


def test_truncated_mirror_archive_fails_and_writes_nothing(workdir: Path) -> None:
    mirror = make_mirror(workdir.parent)
    archive = mirror / "images.tar.gz"
    archive.write_bytes(archive.read_bytes()[:300])
    index = yaml.safe_load((mirror / "sources.yaml").read_text())
    index["cifar10"]["sha256"] = sha256(archive)  # the checksum matches; the archive is broken
    (mirror / "sources.yaml").write_text(yaml.safe_dump(index))
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)})
    assert result.returncode == 1
    assert "images.tar.gz: unreadable or truncated archive" in result.stderr
    assert outputs(workdir) == []


def test_missing_mirror_file_is_named(workdir: Path) -> None:
    mirror = make_mirror(workdir.parent)
    (mirror / "model.h5").unlink()
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)})
    assert result.returncode == 1
    assert "source 'resnet8_keras': mirror file" in result.stderr and "model.h5" in result.stderr


def test_without_network_or_mirror_the_error_says_to_set_data_mirror(workdir: Path) -> None:
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": ""})
    assert result.returncode == 1
    assert "cannot download http://127.0.0.1:9/" in result.stderr
    assert "set DATA_MIRROR" in result.stderr
    assert outputs(workdir) == []


def test_ill_typed_param_fails_naming_the_key(workdir: Path) -> None:
    params = download_params()
    params["download"]["timeout_s"] = "soon"
    params["download"]["sources"]["cifar10"]["format"] = "zip"
    write_params(workdir, params)
    result = run_module("stages.download", workdir)
    assert result.returncode == 1
    assert "download.sources.cifar10.format: expected one of" in result.stderr


def test_unknown_param_fails_naming_the_key(workdir: Path) -> None:
    params = download_params()
    params["download"]["retries"] = 3
    write_params(workdir, params)
    result = run_module("stages.download", workdir)
    assert result.returncode == 1
    assert "download: unknown key(s) ['retries']" in result.stderr


def test_mirror_entries_replace_declared_sources(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path)
    declared = {
        "cifar10": SourceParams(UNREACHABLE, "md5:00", "cifar10-python"),
        "other": SourceParams(UNREACHABLE, "md5:00", "npy-indices"),
    }
    sources = resolve(declared, mirror)
    assert sources["cifar10"].mirrored and sources["cifar10"].format == "imagefolder-tar"
    assert sources["cifar10"].location == str(mirror / "images.tar.gz")
    assert not sources["other"].mirrored


def test_checksums_accept_md5_and_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    verify_checksum(path, "md5:900150983cd24fb0d6963f7d28e17f72", "f")
    verify_checksum(path, f"sha256:{sha256(path)}", "f")
    with pytest.raises(SourceError, match=re.escape("must be '<sha256|md5>:<hex>'")):
        verify_checksum(path, "crc32:1234", "f")


def test_fetch_verifies_a_mirrored_file_before_returning_it(tmp_path: Path) -> None:
    path = tmp_path / "f.tar"
    with tarfile.open(path, "w"):
        pass
    good = Source("s", str(path), f"sha256:{sha256(path)}", "imagefolder-tar", mirrored=True)
    assert fetch(good, tmp_path, 1) == path
    bad = Source("s", str(path), "sha256:" + "1" * 64, "imagefolder-tar", mirrored=True)
    with pytest.raises(SourceError, match="corrupt, truncated or not the declared one"):
        fetch(bad, tmp_path, 1)


def test_a_decompression_bomb_fails_fast_with_bounded_memory(workdir: Path) -> None:
    """A mirror tarball of one 3 GiB zero-filled member (3 MB on disk, checksum listed)."""
    mirror = make_mirror(workdir.parent)
    write_gzip_bomb(mirror / "images.tar.gz", "set/train/cat/0000.png", 3 * 2**30)
    index = yaml.safe_load((mirror / "sources.yaml").read_text())
    index["cifar10"]["sha256"] = sha256(mirror / "images.tar.gz")
    (mirror / "sources.yaml").write_text(yaml.safe_dump(index))
    params = download_params()
    params["download"]["limits"]["member_bytes"] = 2**28  # the default: 256 MiB
    write_params(workdir, params)
    # The stage reports its own peak memory as it exits (VmHWM: this process image only; the
    # rusage maximum would count the parent it was forked from).
    peak = (
        "import atexit, re, runpy, sys; atexit.register(lambda: print('peak_kib', re.search("
        "r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr)); "
        "runpy.run_module('stages.download', run_name='__main__', alter_sys=True)"
    )
    result = run_module("stages.download", workdir, env={"DATA_MIRROR": str(mirror)}, code=peak)
    assert result.returncode == 1
    assert "member 'set/train/cat/0000.png' unpacks to 3,221,225,472 bytes" in result.stderr
    assert "over download.limits.member_bytes (268,435,456)" in result.stderr
    peak_kib = int(result.stderr.split("peak_kib")[-1].split()[0])
    assert peak_kib < 500 * 1024
    assert outputs(workdir) == []


def test_a_relative_mirror_is_taken_from_the_project_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATA_MIRROR", "../shared/mirror")
    project = tmp_path / "project"
    assert mirror_from_env(project) == tmp_path / "shared" / "mirror"
    monkeypatch.setenv("DATA_MIRROR", str(tmp_path / "elsewhere"))
    assert mirror_from_env(project) == tmp_path / "elsewhere"
    monkeypatch.setenv("DATA_MIRROR", "")
    assert mirror_from_env(project) is None
