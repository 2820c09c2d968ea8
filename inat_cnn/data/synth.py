"""A learnable synthetic dataset in the iNaturalist-12K layout (JPEGs of varied sizes).

Each class has its own foreground hue, shape and texture (solid, stripes, checks) on a random
background (``drawing``); image size and aspect ratio vary per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..folders import (
    check_replaceable,
    check_target,
    discard_staging,
    protected_paths,
    publish_folder,
    staging_folder,
    write_marker,
)
from .drawing import draw_example

INAT_CLASSES = ["Amphibia", "Animalia", "Arachnida", "Aves", "Fungi",
                "Insecta", "Mammalia", "Mollusca", "Plantae", "Reptilia"]  # fmt: skip
MARKER = ".inat_cnn_synthetic"
_KIND = "inat-cnn synthetic dataset"


def class_names(classes: int) -> list[str]:
    if classes <= len(INAT_CLASSES):
        return INAT_CLASSES[:classes]
    return [f"class_{i:03d}" for i in range(classes)]


def _write_split(folder: Path, names: list[str], count: int, seed: int, code: int, min_side: int,
                 max_side: int) -> None:
    for label, name in enumerate(names):
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = np.random.default_rng([seed, code, label, i])
            img = draw_example(label, len(names), rng, min_side, max_side)
            img.save(target / f"{name.lower()}_{i:05d}.jpg", quality=int(rng.integers(80, 96)))


def synthesize(
    out: Path,
    *,
    classes: int = 10,
    per_class: int = 30,
    test_per_class: int = 10,
    seed: int = 0,
    min_side: int = 64,
    max_side: int = 160,
    bad_files: bool = False,
) -> Path:
    """Write out/train/<class>/*.jpg and out/val/<class>/*.jpg; returns ``out``.

    ``bad_files`` plants every bad-file kind of :data:`inat_cnn.data.bad_files.BAD_KINDS`
    in train/. Written beside ``out`` and renamed into place; refuses a folder that already has
    files, unless it is an earlier synthetic dataset with nothing added (which is then replaced).
    """
    out = Path(out).expanduser()
    if classes < 2 or per_class < 2 or test_per_class < 0:
        raise UserError(
            f"need classes >= 2, per_class >= 2, test_per_class >= 0; got {classes}, {per_class}, {test_per_class}"
        )
    if not 8 <= min_side <= max_side:
        raise UserError(f"need 8 <= min_side <= max_side, got min_side={min_side}, max_side={max_side}")
    out = out.absolute()
    check_target(out, "synthetic dataset", protected_paths())
    if out.is_dir() and any(out.iterdir()):  # only an earlier synthetic dataset, alone, may be replaced
        check_replaceable(out, MARKER, _KIND, "synthetic dataset", protected_paths())
    staging = staging_folder(out)
    try:
        names = class_names(classes)
        _write_split(staging / "train", names, per_class, seed, 0, min_side, max_side)
        _write_split(staging / "val", names, test_per_class, seed, 1, min_side, max_side)
        for name in names:  # test_per_class == 0 still makes the val/<class>/ folders
            (staging / "val" / name).mkdir(parents=True, exist_ok=True)
        if bad_files:
            from .bad_files import plant_bad_files

            plant_bad_files(staging, names, seed)
        write_marker(staging, MARKER, _KIND, classes=classes, per_class=per_class, test_per_class=test_per_class,
                     seed=seed)
        publish_folder(staging, out, MARKER, _KIND)
    except BaseException:
        discard_staging(staging)
        raise
    return out
