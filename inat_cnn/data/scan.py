"""Find the images of a dataset root and fingerprint their content.

Two layouts are accepted:

- iNaturalist-12K: ``ROOT/train/<class>/*`` and ``ROOT/val/<class>/*`` (val/ is our test set);
- flat: ``ROOT/<class>/*`` (validation and test are both carved out of it).

Hidden files and folders (``.DS_Store``, ``__MACOSX``...) are ignored silently; any
other file is a candidate and is judged later by its content, not its extension.
Scans stay inside the root: a symlink to a folder is never followed (that is how loops and
escapes happen), a symlink to a file is kept only when its target is inside the root and not
already in the dataset; every link left out is listed as skipped, with its target.
A class is its folder's name in Unicode NFC: ``Aves/Ardéidae`` written NFC in train/ (Linux tools) and
NFD in val/ (macOS) is one class; file paths keep their real bytes for reading.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

_SYSTEM_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
_SAMPLE = 16 * 1024  # bytes hashed at each end of a file for the fingerprint
SYMLINK_SKIP = "symlink not followed"  # the start of every skip reason for a symbolic link


@dataclass(frozen=True)
class FileNote:
    """A file of the dataset and a note on it (path relative to the dataset root): why it is skipped,
    or, for a kept file, how it is converted (``SplitManifest.converted``)."""

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
    skipped: list[FileNote] = field(default_factory=list)


def class_name(folder_name: str) -> str:
    """The class a folder holds: its name in Unicode NFC (composed), whatever form the file system kept."""
    return unicodedata.normalize("NFC", folder_name)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_NAMES


def _link_reason(path: Path, root: Path) -> str | None:
    """Why a symlink is not used (None: a link to a file inside the root, which is kept)."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return f"{SYMLINK_SKIP}: broken (-> {os.readlink(path)})"
    except (RuntimeError, OSError):  # ELOOP: the link chain comes back to itself
        return f"{SYMLINK_SKIP}: loops back on itself"
    if not target.is_relative_to(root):
        return f"{SYMLINK_SKIP}: points outside the dataset root (-> {target})"
    if target.is_dir():
        return f"{SYMLINK_SKIP}: points to a folder (-> {target.relative_to(root).as_posix() or '.'})"
    return None


class _Walk:
    """Directory walks that stay inside ``root``: folder links are never followed, file links only
    when they point at a file inside the root; every link left out is recorded in ``skipped``."""

    def __init__(self, root: Path, skipped: list[FileNote]):
        self.root, self.skipped = root, skipped
        self.links: list[tuple[str, Path]] = []  # kept file links: (relative path, target)

    def _usable(self, path: Path) -> bool:
        if not path.is_symlink():
            return True
        reason = _link_reason(path, self.root)
        if reason:
            self.skipped.append(FileNote(path.relative_to(self.root).as_posix(), reason))
            return False
        self.links.append((path.relative_to(self.root).as_posix(), path.resolve()))
        return True

    def class_dirs(self, folder: Path) -> list[Path]:
        entries = sorted((p for p in folder.iterdir() if not _hidden(p.name)), key=lambda p: p.name)
        return [p for p in entries if p.is_dir() and self._usable(p)]

    def files_under(self, folder: Path) -> list[Path]:
        """Every non-hidden file below ``folder`` (recursively, not through links), in a stable order."""
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            kept = []
            for d in sorted(dirnames):
                if not _hidden(d) and self._usable(Path(dirpath, d)):
                    kept.append(d)
            dirnames[:] = kept
            found.extend(Path(dirpath, f) for f in sorted(filenames)
                         if not _hidden(f) and self._usable(Path(dirpath, f)))  # fmt: skip
        return found

    def collect(self, folder: Path, labels: dict[str, int]) -> list[tuple[str, int]]:
        """(relative path, label) for every file in the class folders of ``folder``."""
        items = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if _hidden(entry.name) or (entry.is_symlink() and entry.is_dir()):
                continue  # a folder link was listed by class_dirs already
            rel = entry.relative_to(self.root).as_posix()
            if not entry.is_dir():
                if self._usable(entry):
                    self.skipped.append(FileNote(rel, "not inside a class folder"))
                continue
            items.extend((f.relative_to(self.root).as_posix(), labels[class_name(entry.name)])
                         for f in self.files_under(entry))
        return items

    def drop_duplicate_links(self, items: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Drop kept file links to a file that is already an item (or another link's target): no image twice."""
        link_of = dict(self.links)
        seen = {(self.root / rel).resolve() for rel, _ in items if rel not in link_of}
        kept = []
        for rel, label in items:
            target = link_of.get(rel)
            if target is None:
                kept.append((rel, label))
            elif target in seen:
                self.skipped.append(FileNote(rel, f"{SYMLINK_SKIP}: to a file the dataset already has "
                                                     f"(-> {target.relative_to(self.root).as_posix()})"))
            else:
                seen.add(target)
                kept.append((rel, label))
        return kept


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


def _top_folder(path: Path, root: Path) -> bool:
    """``path`` (ROOT/train or ROOT/val) is a real folder; a link there is a clear error, never followed."""
    if path.is_symlink():
        raise _layout_error(root, f"{path.name}/ is a symbolic link ({_link_reason(path, root) or 'to a file'}); "
                                  "scans never follow folder links: pass the real folder as the dataset root")
    return path.is_dir()


def _check_classes(names: list[str], folder: Path) -> None:
    if len(names) < 2:
        found = ", ".join(names) if names else "none"
        raise UserError(f"{folder}: a classifier needs at least two class folders, found {len(names)} ({found}); "
                        "put each class's images in its own folder <class>/")


def scan_dataset(root: str | os.PathLike[str]) -> ScannedDataset:
    """List the candidate files of a dataset root. Raises UserError for a missing root, a wrong layout,
    or fewer than two classes; symlinks that leave the root, loop or point at folders are skipped."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"{root}: dataset root does not exist")
    if not root.is_dir():
        raise _layout_error(root, "is a file, not a folder")
    root = root.resolve()
    skipped: list[FileNote] = []
    walk = _Walk(root, skipped)
    train_dir, val_dir = root / "train", root / "val"
    has_train, has_val = _top_folder(train_dir, root), _top_folder(val_dir, root)
    if has_train or has_val:
        if not (has_train and has_val):
            raise _layout_error(root, f"has {'train/' if has_train else 'val/'} but not the other one")
        names = sorted({class_name(p.name) for p in walk.class_dirs(train_dir)})
        extra = sorted({class_name(p.name) for p in walk.class_dirs(val_dir)} - set(names))
        if extra:
            raise _layout_error(root, f"val/ has class folders that train/ lacks: {', '.join(extra)}")
        layout, folders = "inat", (train_dir, val_dir)
    else:
        names = sorted({class_name(p.name) for p in walk.class_dirs(root)})
        layout, folders = "flat", (root,)
    if not names:
        raise _layout_error(root, "has no class folders")
    _check_classes(names, folders[0])
    labels = {name: i for i, name in enumerate(names)}
    parts = [walk.collect(folder, labels) for folder in folders]
    everything = walk.drop_duplicate_links(parts[0] + (parts[1] if len(parts) > 1 else []))
    kept = set(everything)
    pool, test = [e for e in parts[0] if e in kept], ([e for e in parts[1] if e in kept] if len(parts) > 1 else [])
    if not pool:
        raise _layout_error(root, "has class folders but no files in them")
    fingerprint = fingerprint_files(root, [rel for rel, _ in pool + test])
    return ScannedDataset(root, layout, names, pool, test, fingerprint, skipped)


def symlink_skips(skipped: list[FileNote]) -> list[FileNote]:
    """The skipped entries that are symbolic links (for `data inspect`'s warning)."""
    return [f for f in skipped if f.reason.startswith(SYMLINK_SKIP)]
