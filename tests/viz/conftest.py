"""Tiny real Keras CNNs and splits for the visualization tests."""

from __future__ import annotations

import numpy as np
import pytest

SIZE = 16
C1, C2 = 4, 12


def _conv(filters: int, name: str, fused: bool):
    import keras

    return keras.layers.Conv2D(filters, 3, padding="same", name=name, activation="relu" if fused else None,
                               kernel_initializer=keras.initializers.RandomNormal(0.0, 0.5, seed=len(name) + filters),
                               bias_initializer=keras.initializers.RandomUniform(-0.3, 0.3, seed=filters))


def _relu(name: str, variant: str):
    import keras

    return keras.layers.ReLU(name=name) if variant == "relu_layer" else keras.layers.Activation("relu", name=name)


def build_cnn(variant: str = "separate", classes: int = 4):
    """Input(16) -> Rescaling -> [conv -> relu] x 2 -> pool -> flatten -> dense softmax.

    variant: "separate" (Activation layers), "relu_layer" (keras.layers.ReLU), "fused"
    (Conv2D(activation="relu"), as VGG16), "nested" (the conv stage is a sub-model, as a backbone).
    """
    import keras

    fused = variant == "fused"
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    stage_in = keras.Input((SIZE, SIZE, 3), name="stage_in") if variant == "nested" else x
    h = _conv(C1, "block1_conv", fused)(stage_in)
    if not fused:
        h = _relu("block1_act", variant)(h)
    h = _conv(C2, "block2_conv", fused)(h)
    if not fused:
        h = _relu("block2_act", variant)(h)
    if variant == "nested":
        h = keras.Model(stage_in, h, name="backbone")(x)
    h = keras.layers.MaxPooling2D(name="block2_pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs, name=f"tiny_{variant}")


def conv_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(kernel, bias)] of the two convs, wherever they are nested."""
    from inat_cnn.models.layers import leaf_layers

    convs = [layer for layer in leaf_layers(model) if layer.name in ("block1_conv", "block2_conv")]
    return [(np.asarray(c.kernel), np.asarray(c.bias)) for c in convs]


def manual_guided(model, image: np.ndarray, channel: int, pos: tuple[int, int], guided: bool = True) -> np.ndarray:
    """d relu(z2)[pos, channel] / d image, written out by hand: forward with tf.nn ops, backward with
    transposed convolutions and the masks applied explicitly (guided: forward input > 0 AND upstream > 0)."""
    import tensorflow as tf

    (w1, b1), (w2, b2) = conv_weights(model)
    r = tf.constant(np.asarray(image, np.float32)[None] / 255.0)
    z1 = tf.nn.conv2d(r, w1, 1, "SAME") + b1
    z2 = tf.nn.conv2d(tf.nn.relu(z1), w2, 1, "SAME") + b2
    up = np.zeros(z2.shape, np.float32)
    up[0, pos[0], pos[1], channel] = 1.0

    def through_relu(upstream, pre):
        mask = (pre.numpy() > 0) & ((upstream > 0) if guided else True)
        return upstream * mask

    g_z2 = through_relu(up, z2)
    g_a1 = tf.nn.conv2d_transpose(g_z2, w2, z1.shape, 1, "SAME").numpy()
    g_z1 = through_relu(g_a1, z1)
    g_r = tf.nn.conv2d_transpose(g_z1, w1, r.shape, 1, "SAME").numpy()
    return g_r[0] / 255.0


@pytest.fixture(scope="session")
def tiny_images() -> tuple[np.ndarray, np.ndarray]:
    """24 uint8 images (6 per class, 4 classes) and int32 labels."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, SIZE, SIZE, 3), dtype=np.uint8)
    y = np.repeat(np.arange(4), 6).astype(np.int32)
    return x, y


@pytest.fixture
def tiny_splits(tiny_images, tmp_path):
    from inat_cnn.data import DatasetSplits

    x, y = tiny_images
    return DatasetSplits(class_names=["ant", "bee", "cat", "dog"], x_train=x, y_train=y, x_val=x[:4], y_val=y[:4],
                         x_test=x, y_test=y, fingerprint="f", split_id="s", manifest_path=tmp_path / "m.json",
                         skipped=[], test_files=[f"{i}.png" for i in range(len(y))])


@pytest.fixture(scope="session")
def make_cnn():
    """The ``build_cnn`` factory (fixtures, since two conftest modules cannot both be imported by name)."""
    return build_cnn


@pytest.fixture(scope="session")
def hand_guided():
    """The ``manual_guided`` reference computation."""
    return manual_guided
