"""What the feature cache holds on disk, and removing what no sweep needs any more.

Only entries this project made are listed or removed: folders under ``<cache>/features/`` whose
``meta.json`` has this cache's layout, their ``.lock`` files, and ``.tmp-<pid>`` folders of builders
that are gone (a live builder's is left alone). A folder's last use is the time of its ``COMPLETE``
marker, touched each time a trial opens it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..data.cache import is_complete
from ..locks import lock_if_free
from .cache import features_root, read_meta


@dataclass
class Entry:
    path: Path
    bytes: int
    complete: bool
    last_used: float | None  # epoch seconds
    what: str  # backbone, image size, dtype, tensors; or why it is debris

    @property
    def idle_days(self) -> float | None:
        return None if self.last_used is None else (time.time() - self.last_used) / 86400


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def entries(cache_dir: Path) -> list[Entry]:
    """Every feature-cache folder (complete ones and debris of dead builders), largest first."""
    root = features_root(cache_dir)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if ".tmp-" in folder.name:
            pid = folder.name.rsplit(".tmp-", 1)[1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                out.append(Entry(folder, _size(folder), False, None, f"half a build (builder {pid} is gone)"))
            continue
        meta = read_meta(folder)
        if meta is None or not is_complete(folder):
            continue  # not ours, or being replaced: leave it
        ident = meta.get("identity", {})
        what = (f"{ident.get('backbone')} {ident.get('image_size')}px, {len(meta['shapes'])} tensor(s), "
                f"{meta['dtype']}, {sum(meta['counts'].values())} images")
        out.append(Entry(folder, _size(folder), True, (folder / "COMPLETE").stat().st_mtime, what))
    return sorted(out, key=lambda e: -e.bytes)


def prune(cache_dir: Path, unused_days: float | None = None, everything: bool = False) -> list[Entry]:
    """Remove dead builders' debris, plus complete caches idle for ``unused_days`` (or all with
    ``everything``); a cache some process is building or waiting on (its lock is held) is kept."""
    removed = []
    for entry in entries(cache_dir):
        stale = everything or (unused_days is not None and entry.idle_days is not None
                               and entry.idle_days >= unused_days)
        if entry.complete and not stale:
            continue
        base = entry.path if entry.complete else entry.path.with_name(entry.path.name.rsplit(".tmp-", 1)[0])
        with lock_if_free(base) as free:
            if free:
                shutil.rmtree(entry.path)
                removed.append(entry)
    return removed


def total_bytes(cache_dir: Path) -> int:
    return sum(e.bytes for e in entries(cache_dir))
