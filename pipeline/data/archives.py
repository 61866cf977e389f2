"""Read tar archives member by member without extracting them, refusing unsafe members."""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.errors import PipelineError
from pipeline.schema import bounded


class ArchiveError(PipelineError):
    """An archive is unreadable, truncated, or holds a member we refuse to read."""


@dataclass(frozen=True)
class ArchiveLimits:
    """The `download.limits` params: caps that stop a decompression bomb before it fills memory,
    and how many images of a source may be unreadable before the source counts as broken."""

    member_bytes: int = bounded(1, 2**40)  # the largest member read
    total_bytes: int = bounded(1, 2**42)  # all members together
    members: int = bounded(1, 10**8)  # how many members
    unreadable_images: int = bounded(0, 10**6)  # skipped and named; more fail the source


def iter_files(path: Path, limits: ArchiveLimits) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) of each regular file, in archive order.

    Members with absolute paths, `..` components, links, devices or FIFOs make the whole archive
    an error: such an archive was not made by the source it claims to be. Sizes are checked
    against `limits` from each member's header, before its bytes are read.
    """
    total = count = 0
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                check_member(member, path)
                count += 1
                total += member.size
                check_limits(member, count, total, limits, path)
                if member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None  # regular files always have data
                    yield member.name, handle.read(member.size)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise ArchiveError(f"{path}: unreadable or truncated archive ({err})") from err


def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")):
        raise ArchiveError(f"{archive}: member {member.name!r} has an absolute path; refused")
    if ".." in name.parts:
        raise ArchiveError(f"{archive}: member {member.name!r} climbs out via '..'; refused")
    if member.issym() or member.islnk():
        raise ArchiveError(f"{archive}: member {member.name!r} is a link; refused")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"{archive}: member {member.name!r} is a device or FIFO; refused")


def check_limits(
    member: tarfile.TarInfo, count: int, total: int, limits: ArchiveLimits, archive: Path
) -> None:
    fix = "if the source is genuine, raise download.limits in params.yaml"
    if member.size > limits.member_bytes:
        raise ArchiveError(
            f"{archive}: member {member.name!r} unpacks to {member.size:,} bytes, over "
            f"download.limits.member_bytes ({limits.member_bytes:,}); refused ({fix})"
        )
    if total > limits.total_bytes:
        raise ArchiveError(
            f"{archive}: members unpack to over {limits.total_bytes:,} bytes "
            f"(download.limits.total_bytes); refused ({fix})"
        )
    if count > limits.members:
        raise ArchiveError(
            f"{archive}: over {limits.members:,} members (download.limits.members); refused ({fix})"
        )
