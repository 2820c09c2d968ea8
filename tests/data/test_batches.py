"""ArrayBatches: coverage, shuffling, dtype; real Keras training from the cache on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from inat_cnn.data import ArrayBatches, load_splits, synthesize


def _toy(n=10):
    x = np.arange(n * 2 * 2 * 3, dtype=np.uint8).reshape(n, 2, 2, 3)
    return x, np.arange(n, dtype=np.int32) % 3


def _epoch(batches):
    return [batches[i] for i in range(len(batches))]


def test_every_row_once_per_epoch_with_a_partial_last_batch():
    x, y = _toy(10)
    batches = ArrayBatches(x, y, 4, shuffle=True, seed=1)
    epoch = _epoch(batches)
    assert len(batches) == 3 and [len(b[1]) for b in epoch] == [4, 4, 2]
    xs = np.concatenate([b[0] for b in epoch])
    assert xs.dtype == np.float32 and xs.max() == x.max()  # raw 0..255 values, not rescaled
    rows = sorted(int(r[0, 0, 0]) // 12 for r in xs)
    assert rows == list(range(10))
    for bx, by in epoch:  # labels stay with their images
        assert np.array_equal(by, y[(bx[:, 0, 0, 0] // 12).astype(int)]) and by.dtype == np.int32


def test_reshuffles_each_epoch_deterministically():
    x, y = _toy(32)
    a, b = ArrayBatches(x, y, 8, shuffle=True, seed=3), ArrayBatches(x, y, 8, shuffle=True, seed=3)
    first = [by.tolist() for _, by in _epoch(a)]
    assert first == [by.tolist() for _, by in _epoch(b)]
    a.on_epoch_end()
    assert [by.tolist() for _, by in _epoch(a)] != first
    assert ArrayBatches(x, y, 8, shuffle=True, seed=4).order.tolist() != a.order.tolist()


def test_no_shuffle_keeps_order_and_dtype():
    x, y = _toy(7)
    batches = ArrayBatches(x, y, 3, shuffle=False, dtype="uint8")
    xs = np.concatenate([bx for bx, _ in _epoch(batches)])
    assert xs.dtype == np.uint8 and np.array_equal(xs, x)
    with pytest.raises(IndexError):
        batches[3]


@pytest.mark.slow
def test_tiny_cnn_learns_the_synthetic_data_from_the_cache(tmp_path):
    """The synthetic set must be learnable: a tiny CNN at 32 px beats chance (25 %) clearly in 3 epochs."""
    import keras
    from keras import layers

    root = synthesize(tmp_path / "ds", classes=4, per_class=30, test_per_class=10, seed=1)
    s = load_splits(root, 32, cache_dir=tmp_path / "cache")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)), layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3), layers.BatchNormalization(momentum=0.9), layers.ReLU(), layers.MaxPooling2D(),
        layers.Conv2D(32, 3), layers.BatchNormalization(momentum=0.9), layers.ReLU(),
        layers.GlobalAveragePooling2D(), layers.Dense(4, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ArrayBatches(s.x_train, s.y_train, 16, shuffle=True), epochs=3, verbose=0,
              validation_data=ArrayBatches(s.x_val, s.y_val, 32, shuffle=False))  # fmt: skip
    _, accuracy = model.evaluate(ArrayBatches(s.x_test, s.y_test, 32, shuffle=False), verbose=0)
    assert accuracy >= 0.5, accuracy
