"""Plant every kind of bad or odd file a real dataset folder contains (for tests and demos).

``BAD_KINDS`` maps a kind to (file name, what the data layer must do with it):
``skip`` (listed with a reason), ``convert`` (kept, converted to RGB) or ``ignore``
(hidden files: not even listed).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .drawing import draw_example

BAD_KINDS: dict[str, tuple[str, str]] = {
    "zero_byte": ("bad_zero_byte.jpg", "skip"),
    "truncated": ("bad_truncated.jpg", "skip"),
    "not_an_image": ("bad_not_an_image.jpg", "skip"),
    "text_file": ("notes.txt", "skip"),
    "bomb": ("bad_bomb.png", "skip"),
    "unreadable": ("bad_unreadable.jpg", "skip"),
    "grayscale": ("odd_grayscale.jpg", "convert"),
    "cmyk": ("odd_cmyk.jpg", "convert"),
    "rgba": ("odd_rgba.png", "convert"),
    "palette": ("odd_palette.png", "convert"),
    "sixteen_bit": ("odd_16bit.png", "convert"),
    "wrong_extension": ("odd_wrong_extension.png", "convert"),  # JPEG bytes named .png
    "hidden": (".DS_Store", "ignore"),
}
BOMB_SIZE = (10_000, 6_000)  # 60 MP, a few KB as a 1-bit PNG


def _jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _write(path: Path, kind: str, img: Image.Image) -> None:
    if kind == "zero_byte":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = _jpeg_bytes(img)
        path.write_bytes(data[: len(data) // 2])
    elif kind in ("not_an_image", "text_file"):
        path.write_text("this is not an image\n")
    elif kind == "bomb":
        Image.new("1", BOMB_SIZE, 0).save(path, format="PNG")
    elif kind == "unreadable":
        path.write_bytes(_jpeg_bytes(img))
        os.chmod(path, 0)
    elif kind == "grayscale":
        img.convert("L").save(path, format="JPEG")
    elif kind == "cmyk":
        img.convert("CMYK").save(path, format="JPEG")
    elif kind == "rgba":
        rgba = img.convert("RGBA")
        rgba.putalpha(Image.linear_gradient("L").resize(img.size))
        rgba.save(path, format="PNG")
    elif kind == "palette":
        pal = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        pal.save(path, format="PNG", transparency=0)
    elif kind == "sixteen_bit":
        gray16 = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(gray16).save(path, format="PNG")
    elif kind == "wrong_extension":
        path.write_bytes(_jpeg_bytes(img))
    elif kind == "hidden":
        path.write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    else:  # pragma: no cover - BAD_KINDS and this function go together
        raise ValueError(kind)


def plant_bad_files(root: Path, names: list[str], seed: int = 0) -> dict[str, Path]:
    """Write one file of each kind into ``root/train/<class>/``, spread over the classes."""
    planted = {}
    for i, (kind, (filename, _)) in enumerate(BAD_KINDS.items()):
        label = i % len(names)
        path = Path(root) / "train" / names[label] / filename
        _write(path, kind, draw_example(label, len(names), np.random.default_rng([seed, 2, i]), 48, 96))
        planted[kind] = path
    return planted
