"""Find the images of a dataset root and fingerprint their content.

Two layouts are accepted:

- iNaturalist-12K: ``ROOT/train/<class>/*`` and ``ROOT/val/<class>/*`` (val/ is our test set);
- flat: ``ROOT/<class>/*`` (validation and test are both carved out of it).

Hidden files and folders (``.DS_Store``, ``__MACOSX``...) are ignored silently; any
other file is a candidate and is judged later by its content, not its extension.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

_SYSTEM_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
_SAMPLE = 16 * 1024  # bytes hashed at each end of a file for the fingerprint


@dataclass(frozen=True)
class SkippedFile:
    """A file that is not used, and why (path relative to the dataset root)."""

    path: str
    reason: str


@dataclass
class ScannedDataset:
    root: Path
    layout: str  # "inat" or "flat"
    class_names: list[str]
    pool: list[tuple[str, int]]  # (relative path, label): train/ (inat) or everything (flat)
    test: list[tuple[str, int]]  # the dataset's val/ folder (inat); empty for flat
    fingerprint: str
    skipped: list[SkippedFile] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_NAMES


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not _hidden(p.name)), key=lambda p: p.name)


def _files_under(folder: Path) -> list[Path]:
    """Every non-hidden file below ``folder`` (recursively), in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        found.extend(Path(dirpath, f) for f in sorted(filenames) if not _hidden(f))
    return found


def _collect(folder: Path, root: Path, labels: dict[str, int], skipped: list[SkippedFile]) -> list[tuple[str, int]]:
    """(relative path, label) for every file in the class folders of ``folder``."""
    items = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if _hidden(entry.name):
            continue
        rel = entry.relative_to(root).as_posix()
        if not entry.is_dir():
            skipped.append(SkippedFile(rel, "not inside a class folder"))
            continue
        items.extend((f.relative_to(root).as_posix(), labels[entry.name]) for f in _files_under(entry))
    return items


def file_digest(path: Path) -> str:
    """Size plus a hash of the first and last 16 KiB: cheap, and changes with any re-encode."""
    try:
        size = path.stat().st_size
        h = hashlib.blake2b(str(size).encode(), digest_size=16)
        with open(path, "rb") as fh:
            h.update(fh.read(_SAMPLE))
            if size > _SAMPLE:
                fh.seek(max(_SAMPLE, size - _SAMPLE))
                h.update(fh.read(_SAMPLE))
        return h.hexdigest()
    except OSError as err:
        return f"unreadable:{err.errno}"


def fingerprint_files(root: Path, relpaths: list[str]) -> str:
    """One short hash over (relative path, content digest) of every file."""
    h = hashlib.blake2b(digest_size=16)
    for rel in sorted(relpaths):
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + file_digest(root / rel).encode() + b"\n")
    return h.hexdigest()


def _layout_error(root: Path, what: str) -> UserError:
    return UserError(
        f"{root}: {what}. Expected the iNaturalist-12K layout ROOT/train/<class>/*.jpg and "
        "ROOT/val/<class>/*.jpg, or a folder of class folders ROOT/<class>/*.jpg."
    )


def scan_dataset(root: str | os.PathLike[str]) -> ScannedDataset:
    """List the candidate files of a dataset root. Raises UserError for a missing root or wrong layout."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"{root}: dataset root does not exist")
    if not root.is_dir():
        raise _layout_error(root, "is a file, not a folder")
    root = root.resolve()
    skipped: list[SkippedFile] = []
    train_dir, val_dir = root / "train", root / "val"
    if train_dir.is_dir() or val_dir.is_dir():
        if not (train_dir.is_dir() and val_dir.is_dir()):
            raise _layout_error(root, f"has {'train/' if train_dir.is_dir() else 'val/'} but not the other one")
        names = [p.name for p in _class_dirs(train_dir)]
        extra = sorted({p.name for p in _class_dirs(val_dir)} - set(names))
        if extra:
            raise _layout_error(root, f"val/ has class folders that train/ lacks: {', '.join(extra)}")
        layout, folders = "inat", (train_dir, val_dir)
    else:
        names = [p.name for p in _class_dirs(root)]
        layout, folders = "flat", (root,)
    if not names:
        raise _layout_error(root, "has no class folders")
    labels = {name: i for i, name in enumerate(names)}
    parts = [_collect(folder, root, labels, skipped) for folder in folders]
    pool, test = parts[0], (parts[1] if len(parts) > 1 else [])
    if not pool:
        raise _layout_error(root, "has class folders but no files in them")
    fingerprint = fingerprint_files(root, [rel for rel, _ in pool + test])
    return ScannedDataset(root, layout, names, pool, test, fingerprint, skipped)
