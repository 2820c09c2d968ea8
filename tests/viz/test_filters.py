"""Filter and feature-map grids: layout, per-tile normalisation, and the PNG's actual pixels."""

import keras
import numpy as np
import pytest
from PIL import Image

from inat_cnn.viz.feature_maps import feature_map_mosaic, first_conv_maps, plot_feature_maps
from inat_cnn.viz.figures import MOSAIC_SIZE, grid_shape, mosaic_box
from inat_cnn.viz.filters import filter_mosaic, filter_tiles, plot_filters
from inat_cnn.viz.introspect import NoConvLayer


@pytest.mark.parametrize("n, shape", [(64, (8, 8)), (32, (4, 8)), (10, (2, 5)), (16, (4, 4)), (7, (3, 3)),
                                      (96, (8, 12)), (1, (1, 1)), (3, (2, 2))])
def test_grid_shape(n, shape):
    assert grid_shape(n) == shape


def test_filter_tiles_are_each_normalised_and_rgb_only_for_three_channels():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    kernel[..., 4] = 0.7  # a constant kernel is shown mid-grey, not a division by zero
    tiles = filter_tiles(kernel)
    assert tiles.shape == (5, 3, 3, 3)
    for k in range(4):
        f = kernel[..., k]
        np.testing.assert_allclose(tiles[k], (f - f.min()) / (f.max() - f.min()), rtol=1e-6)
    np.testing.assert_array_equal(tiles[4], 0.5)
    grey = filter_tiles(rng.normal(size=(5, 5, 2, 4)))
    assert grey.shape == (4, 5, 5) and grey.min() == 0.0 and grey.max() == 1.0


def _model_with_known_kernel(kernel: np.ndarray) -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    conv = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding="same", name="first")
    x = keras.layers.Activation("relu")(conv(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    conv.kernel.assign(kernel)
    return model


def test_filter_png_pixels_follow_normalised_kernels(tmp_path):
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(3, 3, 3, 8)).astype(np.float32)
    path = plot_filters(_model_with_known_kernel(kernel), tmp_path / "filters.png")
    png = np.asarray(Image.open(path).convert("RGB"), np.float32)
    assert png.shape == (MOSAIC_SIZE[1], MOSAIC_SIZE[0], 3)
    rows, cols = grid_shape(8)
    image = filter_mosaic(kernel)
    assert image.shape == (rows * 3, cols * 3, 3)
    left, top, width, height = mosaic_box(image.shape)
    for k in range(8):
        r, c = divmod(k, cols)
        expected = filter_tiles(kernel)[k]
        for a in range(3):
            for b in range(3):
                px = int(left + (c * 3 + b + 0.5) * width / image.shape[1])
                py = int(top + (r * 3 + a + 0.5) * height / image.shape[0])
                np.testing.assert_allclose(png[py, px], expected[a, b] * 255, atol=1.5,
                                           err_msg=f"filter {k} pixel ({a},{b})")


def test_feature_maps_are_the_first_conv_output(tmp_path, make_cnn, tiny_images):
    model = make_cnn("nested")
    image = tiny_images[0][0]
    name, maps = first_conv_maps(model, image)
    (w1, b1) = [(layer.kernel, layer.bias) for layer in model.get_layer("backbone").layers
                if layer.name == "block1_conv"][0]
    import tensorflow as tf

    expected = tf.nn.conv2d(image[None].astype(np.float32) / 255.0, w1, 1, "SAME")[0] + b1
    assert name == "block1_conv" and maps.shape == (16, 16, 4)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)
    grid = feature_map_mosaic(maps)
    assert grid.shape == (2 * 16, 2 * 16)
    np.testing.assert_allclose(grid[16:, 16:], (maps[..., 3] - maps[..., 3].min()) / np.ptp(maps[..., 3]), rtol=1e-5)
    png = Image.open(plot_feature_maps(model, image, tmp_path / "maps.png"))
    assert png.size == MOSAIC_SIZE


def test_model_without_conv_layer_is_a_clear_error(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    with pytest.raises(NoConvLayer, match="no Conv2D"):
        plot_filters(model, tmp_path / "f.png")
