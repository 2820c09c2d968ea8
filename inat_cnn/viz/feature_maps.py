"""Feature maps of the first conv layer (its own output) for one image, on the filters' grid."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .figures import draw_mosaic, grid_shape, mosaic, save_png, to_unit
from .introspect import first_conv, layer_outputs


def first_conv_maps(model: keras.Model, image: np.ndarray) -> tuple[str, np.ndarray]:
    """(layer name, (h, w, c) output of the first Conv2D) for one uint8 (S, S, 3) image."""
    layer = first_conv(model)
    out = layer_outputs(model, [layer], np.asarray(image, np.float32)[None])[0]
    return layer.name, np.asarray(keras.ops.convert_to_numpy(out), np.float32)[0]


def feature_map_mosaic(maps: np.ndarray) -> np.ndarray:
    """Each channel of an (h, w, c) map min-max normalised, on the ``grid_shape`` grid."""
    tiles = np.stack([to_unit(maps[:, :, c]) for c in range(maps.shape[-1])])
    return mosaic(tiles, *grid_shape(len(tiles)))


def plot_feature_maps(model: keras.Model, image: np.ndarray, out: Path, caption: str = "") -> Path:
    """MOSAIC_SIZE PNG (viridis, each map normalised on its own)."""
    name, maps = first_conv_maps(model, image)
    h, w, c = maps.shape
    rows, cols = grid_shape(c)
    title = f"Feature maps of {name} ({c} maps {h}x{w}, {rows}x{cols} grid, each normalised){caption}"
    return save_png(draw_mosaic(feature_map_mosaic(maps), title, (h, w), cmap="viridis"), out)
