import io
import tarfile
from pathlib import Path

import pytest

from pipeline.data.archives import ArchiveError, ArchiveLimits, iter_files
from tests.conftest import LIMITS, add_file, write_gzip_bomb


def make_tar(path: Path, extra: tarfile.TarInfo | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        add_file(archive, "top/ok.txt", b"fine")
        if extra is not None:
            archive.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
    return path


def test_regular_members_are_read_in_order(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "a.tar.gz")
    assert list(iter_files(path, LIMITS)) == [("top/ok.txt", b"fine")]


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("top/../../evil.txt"), "'..'"),
        (_member("/abs/evil.txt"), "absolute path"),
        (_member("top/link", tarfile.SYMTYPE), "is a link"),
        (_member("top/hard", tarfile.LNKTYPE), "is a link"),
        (_member("top/dev", tarfile.CHRTYPE), "device or FIFO"),
        (_member("top/fifo", tarfile.FIFOTYPE), "device or FIFO"),
    ],
)
def test_unsafe_members_refuse_the_archive(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    path = make_tar(tmp_path / "bad.tar.gz", member)
    with pytest.raises(ArchiveError, match=reason) as err:
        list(iter_files(path, LIMITS))
    assert str(path) in str(err.value)


def test_truncated_archive_is_an_error_naming_it(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "whole.tar.gz")
    with tarfile.open(tmp_path / "big.tar.gz", "w:gz") as archive:
        add_file(archive, "top/big.bin", bytes(range(256)) * 4096)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes((tmp_path / "big.tar.gz").read_bytes()[:2000])
    assert list(iter_files(path, LIMITS))
    with pytest.raises(ArchiveError, match="unreadable or truncated") as err:
        list(iter_files(truncated, LIMITS))
    assert "truncated.tar.gz" in str(err.value)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            ArchiveLimits(member_bytes=2**20, total_bytes=2**40, members=10, unreadable_images=0),
            "over download.limits.member_bytes",
        ),
        (
            ArchiveLimits(member_bytes=2**40, total_bytes=2**20, members=10, unreadable_images=0),
            "download.limits.total_bytes",
        ),
    ],
)
def test_archives_over_a_limit_are_refused_before_their_bytes_are_read(
    tmp_path: Path, limits: ArchiveLimits, message: str
) -> None:
    path = write_gzip_bomb(tmp_path / "bomb.tar.gz", "top/zeros.bin", 3 * 2**30)
    with pytest.raises(ArchiveError, match=message) as err:
        list(iter_files(path, limits))
    assert "bomb.tar.gz" in str(err.value) and "raise download.limits" in str(err.value)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            ArchiveLimits(member_bytes=1000, total_bytes=450, members=100, unreadable_images=0),
            "total_bytes",
        ),
        (
            ArchiveLimits(member_bytes=1000, total_bytes=10**6, members=3, unreadable_images=0),
            "over 3 members",
        ),
    ],
)
def test_many_small_members_count_towards_the_limits(
    tmp_path: Path, limits: ArchiveLimits, message: str
) -> None:
    with tarfile.open(tmp_path / "many.tar.gz", "w:gz") as archive:
        for i in range(5):
            add_file(archive, f"top/{i}.bin", bytes(100))
    with pytest.raises(ArchiveError, match=message):
        list(iter_files(tmp_path / "many.tar.gz", limits))
    assert len(list(iter_files(tmp_path / "many.tar.gz", LIMITS))) == 5
