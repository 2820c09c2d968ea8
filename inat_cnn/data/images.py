"""Decode one image file into a uint8 (S, S, 3) array, whatever the file throws at us.

Bad files raise :class:`BadImage` with a short reason; odd-but-usable files
(grayscale, CMYK, alpha, palette, 16-bit, wrong extension) are converted to RGB.
JPEGs are decoded in PIL's draft mode (DCT scaling) to the smallest scale that
still covers the target size, which makes big photos several times cheaper.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserError

RESIZE_METHODS = ("squash", "center_crop")
MAX_PIXELS = 50_000_000  # anything larger is treated as a decompression bomb
VANISHED = "file no longer exists"  # listed by the scan, gone when read: the dataset changed under us
_FORMAT_EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "PNG": {".png"},
    "GIF": {".gif"},
    "BMP": {".bmp"},
    "WEBP": {".webp"},
    "TIFF": {".tif", ".tiff"},
}


class BadImage(Exception):
    """This file cannot be used as an image; ``reason`` says why in a few words."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says, plus a note when we will have to convert it."""

    width: int
    height: int
    mode: str
    format: str
    note: str | None = None  # e.g. "CMYK converted to RGB"


def check_resize(resize: str) -> str:
    """The canonical name of a resize method ("center-crop" is accepted for center_crop)."""
    resize = str(resize).replace("-", "_")
    if resize not in RESIZE_METHODS:
        raise UserError(f"resize method {resize!r} is not known; allowed: {', '.join(RESIZE_METHODS)}")
    return resize


def _open(path: str | os.PathLike[str]) -> Image.Image:
    """Open a file lazily (header only), mapping every failure to BadImage."""
    try:
        if os.path.getsize(path) == 0:
            raise BadImage("zero-byte file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except BadImage:
        raise
    except FileNotFoundError:
        raise BadImage("unreadable: broken symlink" if os.path.islink(path) else VANISHED) from None
    except PermissionError:
        raise BadImage("unreadable: permission denied") from None
    except Image.DecompressionBombError:
        raise BadImage(f"decompression bomb (over {MAX_PIXELS // 1_000_000} MP)") from None
    except UnidentifiedImageError:
        raise BadImage("not an image (unknown file format)") from None
    except OSError as err:
        raise BadImage(f"unreadable: {err.strerror or err}") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise BadImage(f"decompression bomb: {w}x{h} = {w * h / 1e6:.0f} MP (limit {MAX_PIXELS / 1e6:.0f} MP)")
    if w < 1 or h < 1:
        img.close()
        raise BadImage(f"empty image ({w}x{h})")
    return img


def _conversion_note(img: Image.Image, path: str | os.PathLike[str]) -> str | None:
    notes = []
    ext = Path(path).suffix.lower()
    fmt = img.format or "?"
    if ext not in _FORMAT_EXTENSIONS.get(fmt, {ext}):
        notes.append(f"extension {ext or '(none)'} but content is {fmt}")
    if img.mode != "RGB":
        kind = {"L": "grayscale", "1": "1-bit", "CMYK": "CMYK"}.get(img.mode, img.mode)
        kind = "16-bit" if img.mode.startswith("I") else kind
        if img.mode == "P" and "transparency" in img.info:
            kind = "palette with transparency"
        notes.append(f"{kind} converted to RGB")
    return "; ".join(notes) or None


_END_MARKERS = {"JPEG": (b"\xff\xd9", 64 * 1024), "PNG": (b"IEND", 64)}


def _missing_end_marker(path: str | os.PathLike[str], fmt: str) -> bool:
    """True if a JPEG/PNG lacks its end marker near the end of the file (the usual truncation)."""
    marker, window = _END_MARKERS.get(fmt, (None, 0))
    if marker is None:
        return False
    with open(path, "rb") as fh:
        fh.seek(max(0, os.path.getsize(path) - window))
        return marker not in fh.read()


def probe_image(path: str | os.PathLike[str]) -> ImageInfo:
    """Read the header (size, mode, format, conversion needed); fully decode only files that look truncated."""
    img = _open(path)
    try:
        info = ImageInfo(img.size[0], img.size[1], img.mode, img.format or "?", _conversion_note(img, path))
    finally:
        img.close()
    if _missing_end_marker(path, info.format):
        decode_image(path, 8)  # raises BadImage if the data really is cut short
    return info


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; alpha is composited over white, 16-bit rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        values = np.asarray(img, dtype=np.float32)
        top = float(values.max()) if values.size else 0.0
        if img.mode.startswith("I;16") or top > 255:
            values = values / 257.0
        elif img.mode == "F" and top <= 1.0:
            values = values * 255.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    return img.convert("RGB")


def _resize(img: Image.Image, size: int, resize: str) -> Image.Image:
    w, h = img.size
    box = None
    if resize == "center_crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        box = (left, top, left + side, top + side)
    return img.resize((size, size), Image.Resampling.BILINEAR, box=box)


def decode_image(path: str | os.PathLike[str], image_size: int, resize: str = "squash") -> np.ndarray:
    """Decode, convert to RGB and resize one file: uint8 (S, S, 3). Raises BadImage."""
    resize = check_resize(resize)
    img = _open(path)
    try:
        with img:
            if img.format == "JPEG":
                img.draft("RGB", (image_size, image_size))
            img.load()
            img = ImageOps.exif_transpose(img) or img
            out = _resize(_to_rgb(img), image_size, resize)
            return np.asarray(out, dtype=np.uint8).reshape(image_size, image_size, 3)
    except BadImage:
        raise
    except PermissionError:
        raise BadImage("unreadable: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        text = str(err)
        reason = "truncated image data" if "truncated" in text else f"corrupt image data: {text}"
        raise BadImage(reason) from None


def load_image_file(path: str | os.PathLike[str], image_size: int, resize: str = "squash") -> np.ndarray:
    """Decode a user-given image (e.g. for `viz` or `evaluate`): UserError if it cannot be used."""
    if not Path(path).is_file():
        raise UserError(f"{path}: no such image file")
    try:
        return decode_image(path, image_size, resize)
    except BadImage as err:
        raise UserError(f"{path}: cannot use this image: {err.reason}") from None
