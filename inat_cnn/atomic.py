"""Files written whole or not at all, and a full or read-only disk told as what it is.

Every artefact (metrics.json, config.yaml, history.csv, model.keras, figures, reports, manifests) is
written to a hidden temporary sibling on the same file system, flushed to the disk (fsync), then renamed
onto its name with ``os.replace``: a reader sees the old file or the new one, never half of one. When the
write fails, the temporary file is removed, so a full disk leaves no truncated debris behind.

A failure because the disk is full (ENOSPC, EDQUOT) or read-only (EROFS) becomes ``DiskError``: the path,
the free space on its file system and what to do. ``DiskError`` is a ``UserError`` (a command exits 2 with
one paragraph) and an ``EnvironmentFault(what="disk")`` (inside a trial the engine re-queues the point and
stops the agent: the machine failed, not the configuration).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import EnvironmentFault, UserError

_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS}


class DiskError(UserError, EnvironmentFault):
    """A write failed because its disk is full or read-only (exit 2; in a trial: ``what == "disk"``)."""

    exit_code = 2

    def __init__(self, message: str, path: Path | str):
        super().__init__(message)
        self.what = "disk"
        self.path = Path(path)


def _mib(n: int) -> str:
    if n < 2 ** 20:
        return f"{n / 2 ** 10:,.0f} KiB"
    return f"{n / 2 ** 20:,.1f} MiB" if n < 2 ** 30 else f"{n / 2 ** 30:,.2f} GiB"


def free_space(path: Path | str) -> str:
    """``"12.0 MiB free of 2.0 GiB"`` for the file system holding ``path`` (its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{_mib(usage.free)} free of {_mib(usage.total)}"


def _os_error(err: BaseException | None) -> OSError | None:
    """The first full-disk or read-only OSError in ``err``'s chain (libraries wrap them), else None."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, OSError) and err.errno in _FULL | _READ_ONLY:
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def disk_error(err: BaseException, path: Path | str | None = None) -> DiskError | None:
    """``err`` (or what it wraps) as a ``DiskError`` naming ``path``, or None when it is no disk problem."""
    if isinstance(err, DiskError):
        return err
    cause = _os_error(err)
    if cause is None:
        return None
    where = Path(path or cause.filename or ".")
    if cause.errno in _READ_ONLY:
        return DiskError(f"cannot write {where}: the file system is read-only ({cause.strerror}). Nothing was "
                         "written; remount it read-write, or point --workspace (INAT_CNN_HOME) or --out at a "
                         "writable folder", where)
    return DiskError(f"cannot write {where}: no space left on its disk ({free_space(where)}; "
                     f"{cause.strerror}). The partial file was removed; free some space (old runs/, cache/ or "
                     "wandb/ of the workspace) or point --workspace (INAT_CNN_HOME) or --out at a larger disk, "
                     "then run it again", where)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every system lets a folder be opened; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_sibling(path: Path) -> Path:
    """A fresh hidden name beside ``path`` that keeps its suffix (Keras wants ``.keras``, matplotlib ``.png``)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


@contextlib.contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on success it is fsynced and renamed onto
    ``path``, on any failure removed (a full or read-only disk raises ``DiskError``)."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        disk = disk_error(err, path)  # before the unlink: the free space as the write met it
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if disk is not None and disk is not err:
            raise disk from err
        raise


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with replacing(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return path


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, data: Any, **dumps: Any) -> Path:
    """``json.dumps(data, **dumps)`` plus a newline, written atomically."""
    return write_text(path, json.dumps(data, **dumps) + "\n")


def write_csv(path: Path | str, fieldnames: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    """A CSV with a header row, written atomically (keys not in ``fieldnames`` are left out)."""
    import csv

    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())


def save_figure(fig: Any, path: Path | str, **savefig: Any) -> Path:
    """``fig.savefig`` into a temporary sibling, then rename (the suffix tells matplotlib the format)."""
    path = Path(path)
    with replacing(path) as tmp:
        fig.savefig(tmp, **savefig)
    return path


def copy_file(source: Path | str, dest: Path | str) -> Path:
    """``shutil.copy2`` to a temporary sibling of ``dest``, then rename."""
    dest = Path(dest)
    with replacing(dest) as tmp:
        shutil.copy2(source, tmp)
    return dest
