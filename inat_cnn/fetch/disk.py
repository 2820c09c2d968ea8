"""Disk-space facts in the user's terms: a full disk is a UserError that names the path and the free space."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from ..errors import UserError


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds ``path`` (or its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def disk_full(path: Path, needed: int | None = None) -> UserError:
    """The error for ENOSPC (or a pre-check that failed) while writing ``path``."""
    free = human_bytes(free_bytes(path))
    need = f"; about {human_bytes(needed)} are needed" if needed else ""
    return UserError(f"the disk is full while writing {path}: {free} free there{need}. Free some space (or pick "
                     "another folder with --dest) and run the same command again: a partial download resumes.")


def require_free(path: Path, needed: int) -> None:
    """Refuse up front when ``needed`` bytes cannot fit next to ``path``."""
    if needed > free_bytes(path):
        raise disk_full(path, needed)


def is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)
