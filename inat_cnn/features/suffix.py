"""Training the suffix as if it were the full model: its batches and its callbacks.

``FeatureBatches`` serves cached cut tensors in exactly the batches ``ArrayBatches`` would serve the
images (same shuffle per seed and epoch). ``OnFullModel`` lets a callback written for the full model
(the trial monitor saves ``model.keras`` from ``self.model``; resume points and snapshots too) watch a
``fit`` of the suffix: it sees the full model, whose optimizer is the suffix's, and a stop it asks
for on the full model stops the suffix's ``fit``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras.src import utils as keras_utils

from ..data import ArrayBatches

_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
                "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")
_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
          "on_predict_begin", "on_predict_end")


class FeatureBatches(ArrayBatches):
    """(tuple of cut tensors, labels) per batch, rows chosen exactly as ``ArrayBatches`` chooses them."""

    def __init__(self, arrays: list[np.ndarray], y, batch_size: int, *, shuffle: bool, seed: int = 0,
                 dtype: str = "float32", epoch: int = 0, **kwargs):
        super().__init__(arrays[0], y, batch_size, shuffle=shuffle, seed=seed, dtype=dtype, **kwargs)
        self.arrays = arrays
        self.epoch = epoch
        self.order = self._order()

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        rows = np.sort(rows) if self.shuffle else slice(int(rows[0]), int(rows[-1]) + 1)
        xs = tuple(np.asarray(a[rows]).astype(self.dtype) for a in self.arrays)
        return (xs[0] if len(xs) == 1 else xs), self.y[rows]


class OnFullModel(keras.callbacks.Callback):
    """Forwards every hook to ``inner`` with ``inner.model`` the full model (batch hooks only if it has them)."""

    def __init__(self, inner: keras.callbacks.Callback, full: keras.Model):
        super().__init__()
        self.inner, self.full, self.fitted = inner, full, None
        self.async_safe = getattr(inner, "async_safe", False)
        for name in _BATCH_HOOKS:
            if not keras_utils.is_default(getattr(inner, name)):
                setattr(self, name, self._forwarder(name))
        for name in _HOOKS:
            setattr(self, name, self._forwarder(name))

    def _forwarder(self, name: str):
        method = getattr(self.inner, name)

        def forward(*args, **kwargs):
            result = method(*args, **kwargs)
            if self.full.stop_training and self.fitted is not None:
                self.fitted.stop_training = True
            return result

        return forward

    def set_model(self, model):
        self.fitted = model
        self.full.stop_training = False
        self.inner.set_model(self.full)

    def set_params(self, params):
        self.inner.set_params(params)


def on_full_model(callbacks: list, full: keras.Model) -> list:
    return [OnFullModel(c, full) for c in callbacks]


def _file_state(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class BestWeights(keras.callbacks.Callback):
    """After each epoch (and after the callback that saves the checkpoint): when ``checkpoint`` was rewritten,
    a copy of the suffix's variables, the only ones that train. ``restore()`` puts them back when the file is
    still the one they were copied with (the prefix's weights, frozen, are checked apart)."""

    def __init__(self, suffix: keras.Model, checkpoint: Path):
        super().__init__()
        self.variables, self.checkpoint = list(suffix.variables), Path(checkpoint)
        self.seen, self.values, self.state = _file_state(self.checkpoint), None, None

    def on_epoch_end(self, epoch, logs=None):
        now = _file_state(self.checkpoint)
        if now is not None and now != self.seen:
            self.values, self.state = [np.array(v.numpy()) for v in self.variables], now
        self.seen = now

    def restore(self) -> bool:
        """Whether the copy matched the file on disk and was put back."""
        if self.values is None or _file_state(self.checkpoint) != self.state:
            return False
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)
        return True
