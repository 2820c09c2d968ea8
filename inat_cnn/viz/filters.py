"""First-layer filters as a grid: each kernel min-max normalised to [0, 1] on its own.

A kernel with 3 input channels is shown in RGB (channel order as the model sees
its input); any other input depth is shown as the grey mean over its input
channels. Tiles are laid out row-major in filter order; unused cells are white.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .figures import draw_mosaic, grid_shape, mosaic, save_png, to_unit
from .introspect import first_conv


def first_layer_kernel(model: keras.Model) -> tuple[str, np.ndarray]:
    """(layer name, kernel (kh, kw, in, out)) of the first Conv2D."""
    layer = first_conv(model)
    return layer.name, np.asarray(layer.kernel.numpy(), np.float32)


def filter_tiles(kernel: np.ndarray) -> np.ndarray:
    """(out, kh, kw, 3) RGB tiles when in == 3, else (out, kh, kw) grey; each normalised to [0, 1]."""
    kernel = np.asarray(kernel, np.float32)
    per_filter = np.moveaxis(kernel, -1, 0)  # (out, kh, kw, in)
    if kernel.shape[2] != 3:
        per_filter = per_filter.mean(axis=-1)
    return np.stack([to_unit(f) for f in per_filter])


def filter_mosaic(kernel: np.ndarray) -> np.ndarray:
    """The tiles of ``filter_tiles`` on the ``grid_shape`` grid (8x8 for 64 filters)."""
    tiles = filter_tiles(kernel)
    return mosaic(tiles, *grid_shape(len(tiles)))


def plot_filters(model: keras.Model, out: Path) -> Path:
    """MOSAIC_SIZE PNG of the first conv layer's filters."""
    name, kernel = first_layer_kernel(model)
    kh, kw, depth, count = kernel.shape
    rows, cols = grid_shape(count)
    colour = "RGB" if depth == 3 else f"grey mean of {depth} input channels"
    title = (f"First-layer filters: {name}, {count} kernels {kh}x{kw} ({colour}), "
             f"{rows}x{cols} grid, each min-max normalised")
    fig = draw_mosaic(filter_mosaic(kernel), title, (kh, kw), cmap=None if depth == 3 else "gray")
    return save_png(fig, out)
