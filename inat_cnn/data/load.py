"""`load_splits`: scan, split (manifest reused), decode once (cache reused), return memmapped arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EnvironmentFault, UserError
from .cache import load_or_build_cache
from .images import check_resize
from .manifest import describe_change, load_or_create_manifest
from .scan import ScannedDataset, scan_dataset
from .split import check_fraction


@dataclass
class DatasetSplits:
    class_names: list[str]
    x_train: np.ndarray  # uint8 (N, S, S, 3), read-only memmap view of the cache
    y_train: np.ndarray  # int32 (N,)
    x_val: np.ndarray  # class-balanced split carved from train/
    y_val: np.ndarray
    x_test: np.ndarray  # the dataset's val/ folder
    y_test: np.ndarray
    fingerprint: str
    split_id: str
    manifest_path: Path
    skipped: list  # FileNote(path, reason): paths relative to the dataset root
    test_files: list[str]  # absolute source path of each test image, same order as x_test

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _console():
    from rich.console import Console

    quiet = os.environ.get("INAT_CNN_QUIET", "") not in ("", "0")
    return Console(stderr=True, highlight=False, markup=False, soft_wrap=True, quiet=quiet)


def _scan(root, expect_fingerprint: str | None, cache_dir: Path) -> ScannedDataset:
    """scan_dataset, with the faults of a sweep's known dataset told apart from a user's bad path."""
    if expect_fingerprint is None:
        return scan_dataset(root)
    sweep = f"the sweep's dataset (fingerprint {expect_fingerprint})"
    if not Path(root).expanduser().is_dir():
        raise EnvironmentFault(f"dataset root {root} is missing or not a folder, but it holds {sweep}; "
                               "is the disk mounted?", what="data")
    try:
        scanned = scan_dataset(root)
    except (OSError, UserError) as err:
        raise EnvironmentFault(f"dataset root {root} could not be read ({err}); it holds {sweep}",
                               what="data") from None
    if scanned.fingerprint != expect_fingerprint:
        raise EnvironmentFault(f"dataset root {root} changed since the sweep's split manifest: fingerprint now "
                               f"{scanned.fingerprint}, the sweep's {expect_fingerprint}"
                               f"{describe_change(scanned, expect_fingerprint, cache_dir)}", what="data")
    return scanned


def _check_args(image_size: int, resize: str, val_fraction: float) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise UserError(f"image_size must be a positive integer, got {image_size!r}")
    check_fraction(val_fraction)


def load_splits(
    root,
    image_size: int,
    *,
    resize: str = "squash",
    val_fraction: float = 0.1,
    split_seed: int = 0,
    cache_dir: Path | None = None,
    expect_fingerprint: str | None = None,
    full_check: bool = False,
) -> DatasetSplits:
    """Train / val / test arrays of a dataset root, decoded once per image size and reused.

    Raises UserError for a missing root, a wrong layout, no images, or too few images per class.
    ``expect_fingerprint`` (a sweep's dataset): a root that is missing, unreadable or whose content
    fingerprint differs raises ``EnvironmentFault(what="data")`` instead, as does a file that vanishes
    while it is decoded; a broken decode cache that cannot be rebuilt raises it with ``what="cache"``.
    ``full_check`` hashes every byte of a reused cache instead of sampled blocks.
    """
    resize = check_resize(resize)
    _check_args(image_size, resize, val_fraction)
    if cache_dir is None:
        from ..workspace import Workspace

        cache_dir = Workspace.resolve().cache
    cache_dir = Path(cache_dir)
    scanned = _scan(root, expect_fingerprint, cache_dir)
    manifest, manifest_file = load_or_create_manifest(scanned, val_fraction, split_seed, cache_dir)
    cached = load_or_build_cache(manifest, scanned.root, image_size, resize, cache_dir, _console(), full_check)
    if cached.counts["train"] == 0 or cached.counts["val"] == 0:
        raise UserError(
            f"{scanned.root}: no image of the train or val split could be decoded; see `inat-cnn data inspect`"
        )
    x_train, y_train, _ = cached.part("train")
    x_val, y_val, _ = cached.part("val")
    x_test, y_test, test_rel = cached.part("test")
    return DatasetSplits(
        class_names=list(manifest.class_names),
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        fingerprint=manifest.fingerprint,
        split_id=manifest.split_id,
        manifest_path=manifest_file,
        skipped=list(manifest.skipped) + list(cached.bad),
        test_files=[str(scanned.root / rel) for rel in test_rel],
    )
