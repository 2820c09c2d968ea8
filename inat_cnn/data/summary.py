"""Plain-data summaries of a split manifest for `inat-cnn data inspect` (no printing here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .manifest import SplitManifest, build_manifest, manifest_path, split_id_for
from .scan import FileNote, ScannedDataset


def class_counts(manifest: SplitManifest) -> list[tuple[str, int, int, int]]:
    """(class, train, val, test) image counts per class."""
    counts = {part: np.bincount([lab for _, lab in entries], minlength=len(manifest.class_names))
              for part, entries in manifest.parts().items()}  # fmt: skip
    return [(name, int(counts["train"][i]), int(counts["val"][i]), int(counts["test"][i]))
            for i, name in enumerate(manifest.class_names)]  # fmt: skip


def size_stats(sizes: dict[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    """min / median / mean / max of width, height, aspect ratio (w/h) and megapixels."""
    if not sizes:
        return {}
    wh = np.array(list(sizes.values()), dtype=np.float64)
    columns = {"width": wh[:, 0], "height": wh[:, 1], "aspect (w/h)": wh[:, 0] / wh[:, 1],
               "megapixels": wh[:, 0] * wh[:, 1] / 1e6}  # fmt: skip
    return {name: {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())}
            for name, v in columns.items()}  # fmt: skip


def saved_or_fresh_manifest(scanned: ScannedDataset, val_fraction: float, split_seed: int, cache_dir: Path):
    """(manifest, saved path or None): the saved manifest if one exists, else computed without saving."""
    path = manifest_path(cache_dir, split_id_for(scanned.fingerprint, scanned.layout, val_fraction, split_seed))
    if path.exists():
        return SplitManifest.from_json(json.loads(path.read_text())), path
    return build_manifest(scanned, val_fraction, split_seed), None


def decode_failures(cache_dir: Path, split_id: str) -> list[FileNote]:
    """Files that failed to decode in any complete cache of this split (found by `data prepare`)."""
    failures: dict[str, str] = {}
    for meta in sorted((Path(cache_dir) / "decoded").glob(f"{split_id}-*/meta.json")):
        if (meta.parent / "COMPLETE").exists():
            failures.update({b["path"]: b["reason"] for b in json.loads(meta.read_text())["bad"]})
    return [FileNote(p, r) for p, r in sorted(failures.items())]
