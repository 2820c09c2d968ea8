"""Safe zip extraction: every entry is checked before one byte is written.

Refused with a UserError naming the entry: a name that would leave the destination (absolute, ``..``,
a drive letter, NUL), a symbolic link or any other non-regular entry, an encrypted entry, duplicate
names, and a zip bomb (more entries, more uncompressed bytes in all, or a higher compression ratio on
a large entry than the bounds allow). Files are created with ``O_EXCL | O_NOFOLLOW`` in a folder this
code made, so nothing on disk is followed or overwritten; what is written is counted, not trusted
from the headers. A damaged archive (no central directory, bad CRC, broken deflate stream) is a
UserError too.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UserError
from .disk import disk_full, human_bytes, is_disk_full, require_free

_CHUNK = 1 << 20
_JUNK = {"__MACOSX"}  # macOS resource-fork folders some zips carry: never extracted


class BadArchive(UserError):
    """The archive is damaged or was refused (unsafe entry, zip bomb)."""


@dataclass(frozen=True)
class Limits:
    """Zip-bomb bounds. iNaturalist-12K holds ~12k JPEGs (~3.6 GiB, ratio ~1)."""

    max_total: int = 16 * 2**30  # uncompressed bytes in all
    max_entries: int = 100_000
    max_ratio: float = 100.0  # uncompressed / compressed, for an entry of at least ratio_floor bytes
    ratio_floor: int = 1 << 20


@dataclass(frozen=True)
class Plan:
    entries: list[tuple[zipfile.ZipInfo, tuple[str, ...]]]  # entry, its path parts (top folder stripped)
    top: str | None  # the single top-level folder every entry sits in, if there is one
    total: int  # uncompressed bytes


def corrupt(archive: Path, err: Exception) -> BadArchive:
    return BadArchive(f"{archive} is not a readable zip archive ({type(err).__name__}: {err}): it is truncated "
                     "or corrupt.")


def _parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path parts of an entry name, refusing every form that could leave the destination."""
    bad = None
    norm = name.replace("\\", "/")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if "\x00" in name:
        bad = "a NUL character"
    elif norm.startswith("/") or PurePosixPath(norm).is_absolute():
        bad = "an absolute path"
    elif ".." in parts:
        bad = "a '..' component"
    elif parts and re.match(r"^[A-Za-z]:", parts[0]):
        bad = "a drive letter"
    if bad:
        raise BadArchive(f"{archive} holds an entry {name!r} with {bad}, which would be written outside the "
                        "destination: the archive was refused and nothing was extracted.")
    return parts


def _check_type(archive: Path, info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        what = "a symbolic link"
    elif kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        what = "a special file (device, FIFO or socket)"
    elif info.flag_bits & 0x1:
        what = "an encrypted file"
    else:
        return
    raise BadArchive(f"{archive} holds {what} ({info.filename!r}): the archive was refused and nothing was "
                    "extracted (symbolic links are neither created nor followed).")


def _check_bounds(archive: Path, infos: list[zipfile.ZipInfo], limits: Limits) -> int:
    if len(infos) > limits.max_entries:
        raise BadArchive(f"{archive} holds {len(infos)} entries, more than the {limits.max_entries} allowed: "
                        "refused as a possible zip bomb.")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total:
        raise BadArchive(f"{archive} would unpack to {human_bytes(total)}, more than the "
                        f"{human_bytes(limits.max_total)} allowed: refused as a possible zip bomb.")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_floor and ratio > limits.max_ratio:
            raise BadArchive(f"{archive}: entry {info.filename!r} expands {ratio:.0f}-fold "
                            f"({human_bytes(info.compress_size)} to {human_bytes(info.file_size)}), more than "
                            f"the {limits.max_ratio:.0f}-fold allowed: refused as a possible zip bomb.")
    return total


def plan(archive: Path, limits: Limits = Limits()) -> Plan:
    """Every entry checked (names, types, bounds) without extracting anything."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as err:
        raise corrupt(archive, err) from None
    named = []
    for info in infos:
        parts = _parts(archive, info.filename)
        _check_type(archive, info)
        if parts and parts[0] not in _JUNK and parts[-1] != ".DS_Store":
            named.append((info, parts))
    total = _check_bounds(archive, [i for i, _ in named], limits)
    tops = {parts[0] for _, parts in named}
    single = len(tops) == 1 and all(len(p) > 1 or i.is_dir() for i, p in named)
    top = tops.pop() if single else None
    entries = [(i, p[1:] if top else p) for i, p in named]
    seen: set[tuple[str, ...]] = set()
    for info, parts in entries:
        if parts and not info.is_dir():
            if parts in seen:
                raise BadArchive(f"{archive} holds {info.filename!r} twice: refused (one would overwrite the other).")
            seen.add(parts)
    return Plan(entries, top, total)


def extract(archive: Path, the_plan: Plan, out: Path) -> int:
    """Write the planned entries under ``out`` (a fresh folder); the number of files written."""
    require_free(out, the_plan.total)
    files = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            for info, parts in the_plan.entries:
                if not parts:
                    continue
                target = out.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_entry(zf, info, target)
                files += 1
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise corrupt(archive, err) from None
    except OSError as err:
        if is_disk_full(err):
            raise disk_full(out, the_plan.total) from None
        raise
    return files


def _write_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    written = 0
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while block := src.read(_CHUNK):
            written += len(block)
            if written > info.file_size:  # zipfile stops at the declared size; this is a second fence
                raise zipfile.BadZipFile(f"{info.filename} is longer than its header says")
            out.write(block)
