"""Folders this project writes whole (an export, a synthetic dataset), and the only ones it may replace.

A folder is written into a hidden temporary sibling, a marker file listing every file written goes in
last, and one rename puts it in place. Replacing an existing folder (``--force``) is allowed only when
its marker says this project wrote it and nothing else is in it; the workspace, the current folder and
their ancestors, and any path the caller protects (a sweep database, a trial folder) are never
replaced. The old folder is renamed aside first and removed file by file from its own list after the
new one is in place, so a failure at any point leaves either the old or the new folder, never neither.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from . import atomic
from .errors import UserError

_SHOWN = 5  # foreign entries named in a refusal


def staging_folder(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write into (same file system, so the final rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def _listing(folder: Path, marker: str) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            rel = Path(dirpath, name).relative_to(folder).as_posix()
            if rel != marker:
                files.append(rel)
    return files


def write_marker(folder: Path, marker: str, kind: str, **details) -> None:
    """Record (last) that this project wrote ``folder``, and exactly which files it holds."""
    record = {"kind": kind, "files": _listing(folder, marker), **details}
    atomic.write_json(folder / marker, record, indent=1, sort_keys=True)


def read_marker(folder: Path, marker: str, kind: str) -> dict | None:
    """The marker of a folder this project wrote as ``kind``, or None (absent, unreadable, other kind)."""
    try:
        record = json.loads((folder / marker).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("kind") != kind:
        return None
    files = record.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return record


def foreign_entries(folder: Path, marker: str, written: Iterable[str]) -> list[str]:
    """Entries of ``folder`` that are not in ``written`` (nor folders holding them), relative, sorted."""
    written = set(written)
    parents = {p.as_posix() for rel in written for p in Path(rel).parents if p != Path(".")}
    foreign = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        for name in sorted(dirnames):
            rel = (base / name).as_posix()
            if rel not in parents or Path(dirpath, name).is_symlink():
                foreign.append(rel + "/")
        dirnames[:] = sorted(d for d in dirnames if (base / d).as_posix() in parents)
        for name in sorted(filenames):
            rel = (base / name).as_posix()
            if rel != marker and rel not in written:
                foreign.append(rel)
    return sorted(foreign)


def protected_paths(extra: Iterable[tuple[Path | str | None, str]] = ()) -> list[tuple[Path, str]]:
    """(path, what it is) that no replaced folder may be or contain: the current folder, the workspace,
    and ``extra`` (e.g. the sweep database, the sweep's trial folders)."""
    from .workspace import Workspace

    paths = [(Path.cwd(), "the current folder"), (Workspace.resolve().root, "the workspace"),
             *((Path(p), label) for p, label in extra if p)]
    return [(p.expanduser().resolve(), label) for p, label in paths]


def _guarded_reason(out: Path, protected: list[tuple[Path, str]]) -> str | None:
    real = out.resolve()
    for path, label in protected:
        if path == real:
            return f"it is {label}"
        if real in path.parents:
            return f"it contains {label} {path}"
    return None


def _refusal(out: Path, reason: str) -> UserError:
    return UserError(f"refusing to replace {out}: {reason}. Nothing was changed; choose another folder "
                     "(or move those files away yourself)")


def check_not_protected(out: Path, protected: list[tuple[Path, str]]) -> None:
    """UserError if ``out`` is, or contains, a protected path (even an empty current folder is not replaced)."""
    reason = _guarded_reason(out, protected)
    if reason:
        raise _refusal(out, reason)


def check_target(out: Path, what: str, protected: list[tuple[Path, str]]) -> None:
    """Before anything is written to ``out``: not a file, not a link, not a protected path."""
    if out.is_symlink():
        raise UserError(f"{out} is a symbolic link: pass the real folder to write the {what} to")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file: pass a folder path for the {what}")
    check_not_protected(out, protected)


def check_replaceable(out: Path, marker: str, kind: str, what: str, protected: list[tuple[Path, str]]) -> None:
    """UserError (naming ``out`` and why) unless ``out`` is a folder this project wrote as ``kind``, alone."""
    check_target(out, what, protected)
    record = read_marker(out, marker, kind)
    if record is None:
        raise _refusal(out, f"it holds no {what} of this project (no valid {marker} marker in it)")
    foreign = foreign_entries(out, marker, record["files"])
    if foreign:
        more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        shown = ", ".join(foreign[:_SHOWN])
        raise _refusal(out, f"it holds files that are not part of the earlier {what}: {shown}{more}")


def remove_written(folder: Path, marker: str, kind: str) -> list[str]:
    """Delete the files ``folder``'s marker lists, then the marker and emptied folders; returns what is left."""
    record = read_marker(folder, marker, kind)
    if record is None:
        return [p.name for p in folder.iterdir()] if folder.is_dir() else []
    inside = folder.resolve()
    for rel in record["files"]:
        path = folder / rel
        if path.parent.resolve().is_relative_to(inside) and (path.is_file() or path.is_symlink()):
            path.unlink()  # the entry itself: a link is removed, never what it points to
    (folder / marker).unlink(missing_ok=True)
    for dirpath, _, _ in sorted(os.walk(folder, topdown=False), key=lambda w: -len(Path(w[0]).parts)):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass  # not empty: something was added since the check; it stays
    return [] if not folder.exists() else sorted(p.name for p in folder.iterdir())


def publish_folder(staging: Path, out: Path, marker: str, kind: str) -> list[str]:
    """Rename the finished ``staging`` folder to ``out``; an earlier folder of ``kind`` is removed afterwards.

    Returns the names of anything that had to be left behind (in a ``.NAME.old-*`` sibling).
    """
    if out.is_dir() and any(out.iterdir()):
        backup = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, backup)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(backup, out)
            raise
        left = remove_written(backup, marker, kind)
        return [f"{backup}/{name}" for name in left]
    if out.is_dir():
        out.rmdir()  # empty: rmdir refuses anything else
    os.replace(staging, out)
    return []


def discard_staging(staging: Path) -> None:
    """Remove a temporary folder this process created (it only ever holds what we wrote)."""
    shutil.rmtree(staging, ignore_errors=True)
