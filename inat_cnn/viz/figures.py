"""Shared drawing helpers: fixed-size Agg figures, grid shapes, tile mosaics.

Figures are built with ``matplotlib.figure.Figure`` and drawn by the Agg canvas
directly, so nothing touches pyplot's global state (safe in a training process
and in threads) and every PNG has exactly the pixel size asked for.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import atomic

DPI = 100
#: Height in pixels of the title band above a mosaic (filters, feature maps).
TITLE_BAND_PX = 60
#: Pixel sizes (width, height) of the fixed-size figures.
MOSAIC_SIZE = (800, 860)
GUIDED_SIZE = (1400, 620)
CONFUSION_SIZE = (1000, 900)
#: The prediction grid is PRED_CELL_PX[0] * 3 wide and PRED_CELL_PX[1] * rows + TITLE_BAND_PX high.
PRED_CELL_PX = (240, 230)
GREEN, RED = "#1a7f37", "#cf222e"


def new_figure(width_px: int, height_px: int) -> Figure:
    """A white figure of exactly ``width_px`` x ``height_px`` pixels on the Agg canvas."""
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _is_png(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG (no tight bbox, so the pixel size is kept) and return the path."""
    path = Path(path)
    if path.is_dir() or (path.exists() and not _is_png(path)):
        from ..errors import UserError  # an existing file is replaced only if it is a PNG (an earlier figure)

        raise UserError(f"refusing to write over {path}: it is {'a folder' if path.is_dir() else 'not a PNG'}. "
                        "Nothing was changed; choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.save_figure(fig, path, dpi=DPI, format="png", facecolor=fig.get_facecolor())
    return path


def grid_shape(n: int, max_ratio: float = 2.5) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles: an exact near-square factorisation (64 -> 8x8, 32 -> 4x8,
    10 -> 2x5) when one exists with cols/rows <= max_ratio, else the smallest near-square grid."""
    if n < 1:
        raise ValueError("grid_shape needs at least one tile")
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    if (n // rows) / rows <= max_ratio:
        return rows, n // rows
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def to_unit(a: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1] as float32; a constant array becomes 0.5 everywhere."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 1e-12:
        return np.full_like(a, 0.5)
    return (a - lo) / (hi - lo)


def mosaic(tiles: np.ndarray, rows: int, cols: int, fill: float = 1.0) -> np.ndarray:
    """Lay tiles (n, h, w[, c]) out row-major on a rows x cols grid; empty cells get ``fill``.

    Tile k's pixel (a, b) lands at (r*h + a, c*w + b) with r, c = divmod(k, cols).
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    n, h, w = tiles.shape[:3]
    if n > rows * cols:
        raise ValueError(f"{n} tiles do not fit a {rows}x{cols} grid")
    out = np.full((rows * h, cols * w) + tiles.shape[3:], fill, np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = tiles[k]
    return out


def mosaic_box(shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """(left, top, width, height) in PNG pixels of a mosaic of ``shape`` drawn by ``draw_mosaic``:
    as large as fits below the title band, aspect kept, centred."""
    width, height = MOSAIC_SIZE
    room = height - TITLE_BAND_PX
    scale = min(width / shape[1], room / shape[0])
    w, h = shape[1] * scale, shape[0] * scale
    return (width - w) / 2, TITLE_BAND_PX + (room - h) / 2, w, h


def draw_mosaic(image: np.ndarray, title: str, tile: tuple[int, int], cmap: str | None = None) -> Figure:
    """A MOSAIC_SIZE figure: a title band, then ``image`` (nearest pixels) filling ``mosaic_box``,
    with thin white lines on the borders between ``tile``-sized tiles (they never cover a tile's centre)."""
    width, height = MOSAIC_SIZE
    fig = new_figure(width, height)
    left, top, w, h = mosaic_box(image.shape)
    ax = fig.add_axes((left / width, 1 - (top + h) / height, w / width, h / height))
    ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto",
              extent=(0, image.shape[1], image.shape[0], 0))
    for y in range(tile[0], image.shape[0], tile[0]):
        ax.axhline(y, color="white", linewidth=1.5)
    for x in range(tile[1], image.shape[1], tile[1]):
        ax.axvline(x, color="white", linewidth=1.5)
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_axis_off()
    fig.text(0.5, 1 - (TITLE_BAND_PX / 2) / height, title, ha="center", va="center", fontsize=11, wrap=True)
    return fig


def show_image(ax, image: np.ndarray, title: str | None = None, color: str = "black", fontsize: int = 9) -> None:
    """Draw one uint8 or [0, 1] image on ``ax`` without ticks."""
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, color=color, fontsize=fontsize)
