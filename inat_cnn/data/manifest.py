"""The split manifest: which file is in train / val / test, saved once and reused.

Keyed by ``split_id`` = hash(content fingerprint, layout, val_fraction, split_seed),
so every trial of a sweep, on any host with the same files, uses the same split.
Written under a file lock, to a temporary file first, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filelock import FileLock

from .. import atomic
from ..errors import UserError
from .images import BadImage, probe_image
from .scan import FileNote, ScannedDataset
from .split import balanced_holdout, check_enough

MANIFEST_VERSION = 1
Entry = tuple[str, int]


@dataclass
class SplitManifest:
    split_id: str
    fingerprint: str
    layout: str
    class_names: list[str]
    val_fraction: float
    split_seed: int
    train: list[Entry]
    val: list[Entry]
    test: list[Entry]
    skipped: list[FileNote] = field(default_factory=list)
    converted: list[FileNote] = field(default_factory=list)  # kept files with a conversion note
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # relpath -> (width, height)

    def parts(self) -> dict[str, list[Entry]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def to_json(self) -> dict:
        data = asdict(self)
        data["version"] = MANIFEST_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict) -> SplitManifest:
        data = dict(data)
        data.pop("version", None)
        for part in ("train", "val", "test"):
            data[part] = [(p, int(lab)) for p, lab in data[part]]
        data["skipped"] = [FileNote(**s) for s in data["skipped"]]
        data["converted"] = [FileNote(**s) for s in data["converted"]]
        data["sizes"] = {k: (int(w), int(h)) for k, (w, h) in data["sizes"].items()}
        return cls(**data)


def split_id_for(fingerprint: str, layout: str, val_fraction: float, split_seed: int) -> str:
    key = f"v{MANIFEST_VERSION}|{fingerprint}|{layout}|{float(val_fraction)!r}|{int(split_seed)}"
    return hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def _probe_all(scanned: ScannedDataset) -> tuple[set[str], list[FileNote], list[FileNote], dict]:
    """Header-check every file: (usable paths, skipped, converted notes, sizes)."""
    paths = [rel for rel, _ in scanned.pool + scanned.test]

    def probe(rel: str):
        try:
            return rel, probe_image(scanned.root / rel), None
        except BadImage as err:
            return rel, None, err.reason

    usable, skipped, converted, sizes = set(), [], [], {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for rel, info, reason in pool.map(probe, paths):
            if info is None:
                skipped.append(FileNote(rel, reason))
                continue
            usable.add(rel)
            sizes[rel] = (info.width, info.height)
            if info.note:
                converted.append(FileNote(rel, info.note))
    return usable, skipped, converted, sizes


def build_manifest(scanned: ScannedDataset, val_fraction: float, split_seed: int) -> SplitManifest:
    """Probe every file, then carve the class-balanced split(s). Raises UserError if too few images."""
    usable, skipped, converted, sizes = _probe_all(scanned)
    pool = [e for e in scanned.pool if e[0] in usable]
    test = [e for e in scanned.test if e[0] in usable]
    if not pool:
        example = f", e.g. {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise UserError(f"{scanned.root}: no usable images ({len(skipped)} files skipped{example})")
    counts: dict[int, int] = {}
    for _, label in pool:
        counts[label] = counts.get(label, 0) + 1
    where = f"{scanned.root}/{'train' if scanned.layout == 'inat' else ''}".rstrip("/")
    check_enough(counts, scanned.class_names, 2 if scanned.layout == "inat" else 3, where)
    if scanned.layout == "flat":  # no val/ folder: carve the test set too, with its own seed stream
        pool, test = balanced_holdout(pool, val_fraction, split_seed + 7919)
    train, val = balanced_holdout(pool, val_fraction, split_seed)
    return SplitManifest(
        split_id=split_id_for(scanned.fingerprint, scanned.layout, val_fraction, split_seed),
        fingerprint=scanned.fingerprint,
        layout=scanned.layout,
        class_names=list(scanned.class_names),
        val_fraction=float(val_fraction),
        split_seed=int(split_seed),
        train=train,
        val=val,
        test=sorted(test, key=lambda e: (e[1], e[0])),
        skipped=list(scanned.skipped) + skipped,
        converted=converted,
        sizes=sizes,
    )


def atomic_write_text(path: Path, text: str) -> None:
    atomic.write_text(path, text)


def manifest_path(cache_dir: Path, split_id: str) -> Path:
    return Path(cache_dir) / "splits" / f"{split_id}.json"


def _example(paths: set[str]) -> str:
    return f"{len(paths)} (e.g. {sorted(paths)[0]})"


def describe_change(scanned: ScannedDataset, old_fingerprint: str, cache_dir: Path) -> str:
    """'; files added ..., removed ...' against a saved manifest of ``old_fingerprint`` ('' if none is saved)."""
    for path in sorted((Path(cache_dir) / "splits").glob("*.json")):
        try:
            old = SplitManifest.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if old.fingerprint != old_fingerprint:
            continue
        before = {rel for part in old.parts().values() for rel, _ in part} | {f.path for f in old.skipped}
        now = {rel for rel, _ in scanned.pool + scanned.test} | {f.path for f in scanned.skipped}
        added, removed = now - before, before - now
        if not added and not removed:
            return "; the same files, some with other content"
        return "".join((f"; files added: {_example(added)}" if added else "",
                        f"; files removed: {_example(removed)}" if removed else ""))
    return ""


def load_or_create_manifest(
    scanned: ScannedDataset, val_fraction: float, split_seed: int, cache_dir: Path
) -> tuple[SplitManifest, Path]:
    """The saved manifest for this (fingerprint, val_fraction, seed), creating it once under a lock."""
    split_id = split_id_for(scanned.fingerprint, scanned.layout, val_fraction, split_seed)
    path = manifest_path(cache_dir, split_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with FileLock(str(path) + ".lock"):
            if not path.exists():
                manifest = build_manifest(scanned, val_fraction, split_seed)
                atomic_write_text(path, json.dumps(manifest.to_json(), indent=1))
                return manifest, path
    return SplitManifest.from_json(json.loads(path.read_text())), path
