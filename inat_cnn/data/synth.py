"""A learnable synthetic dataset in the iNaturalist-12K layout (JPEGs of varied sizes).

Each class has its own foreground hue, shape and texture (solid, stripes, checks)
on a random low-saturation noisy background; position, size, colour jitter, image
size and aspect ratio vary per image. Colour alone separates the classes, so a
tiny CNN at 32 px learns it in a couple of epochs; shape and texture add harder cues.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import UserError
from ..folders import (check_replaceable, check_target, discard_staging, protected_paths,
                       publish_folder, staging_folder, write_marker)

INAT_CLASSES = ["Amphibia", "Animalia", "Arachnida", "Aves", "Fungi",
                "Insecta", "Mammalia", "Mollusca", "Plantae", "Reptilia"]  # fmt: skip
SHAPES = ("ellipse", "rectangle", "triangle", "diamond")
TEXTURES = ("solid", "stripes", "checks")
MARKER = ".inat_cnn_synthetic"
_KIND = "inat-cnn synthetic dataset"


def class_names(classes: int) -> list[str]:
    if classes <= len(INAT_CLASSES):
        return INAT_CLASSES[:classes]
    return [f"class_{i:03d}" for i in range(classes)]


def _rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue % 1.0, sat, val))


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    base = np.array(_rgb(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.2, 0.6)), dtype=np.float32)
    coarse = rng.normal(0, 25, size=(max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    blotches = np.asarray(Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((w, h)), np.float32)
    pixels = rng.standard_normal((h, w, 3), dtype=np.float32)
    pixels *= 8
    pixels += blotches
    pixels += base - 128
    return Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = {"triangle": 3, "diamond": 4, "rectangle": 4}[shape]
    offset = angle + (np.pi / 4 if shape == "rectangle" else 0.0)
    return [(cx + r * np.cos(offset + 2 * np.pi * k / corners), cy + r * np.sin(offset + 2 * np.pi * k / corners))
            for k in range(corners)]  # fmt: skip


def _texture(texture: str, size: tuple[int, int], colour, rng: np.random.Generator) -> Image.Image:
    fill = Image.new("RGB", size, colour)
    if texture == "solid":
        return fill
    dark = tuple(int(c * 0.35) for c in colour)
    period = max(4, int(min(size) / rng.uniform(6, 10)))
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    if texture == "stripes":
        on = ((xx + yy) // period) % 2 == 0
    else:
        on = ((xx // period) + (yy // period)) % 2 == 0
    arr = np.where(on[..., None], np.array(colour, np.uint8), np.array(dark, np.uint8))
    return Image.fromarray(arr.astype(np.uint8))


def draw_example(label: int, classes: int, rng: np.random.Generator, min_side: int, max_side: int) -> Image.Image:
    """One RGB image of class ``label``: class hue/shape/texture on a random background."""
    w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
    img = _background(rng, w, h)
    shape, texture = SHAPES[label % len(SHAPES)], TEXTURES[(label // len(SHAPES)) % len(TEXTURES)]
    colour = _rgb(label / classes + rng.normal(0, 0.08 / classes), rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
    r = rng.uniform(0.32, 0.46) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "ellipse":
        squash = rng.uniform(0.6, 1.0)
        draw.ellipse((cx - r, cy - r * squash, cx + r, cy + r * squash), fill=255)
    else:
        draw.polygon(_shape_polygon(shape, cx, cy, r, rng.uniform(-0.3, 0.3)), fill=255)
    img.paste(_texture(texture, (w, h), colour, rng), (0, 0), mask)
    return img


def _write_split(folder: Path, names: list[str], count: int, seed: int, code: int, min_side: int, max_side: int) -> None:
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
