"""Read tar archives member by member without extracting them, refusing unsafe members."""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pipeline.errors import PipelineError


class ArchiveError(PipelineError):
    """An archive is unreadable, truncated, or holds a member we refuse to read."""


def iter_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) of each regular file, in archive order.

    Members with absolute paths, `..` components, links, devices or FIFOs make the whole archive
    an error: such an archive was not made by the source it claims to be.
    """
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                check_member(member, path)
                if member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None  # regular files always have data
                    yield member.name, handle.read()
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
