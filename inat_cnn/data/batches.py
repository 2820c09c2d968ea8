"""Training batches straight from (memmapped) uint8 arrays, backend-agnostic via keras.PyDataset.

``model.fit(x=memmap)`` would load the whole array into one tensor (Keras' array adapter);
this reads only the rows of each batch. Pixels stay raw 0..255 (models rescale
inside), cast to ``dtype``. Rows of a batch are read in sorted order, which keeps
memmap reads sequential-ish; which rows form a batch is what the shuffle decides.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """(x_batch, y_batch) pairs over ``x``/``y``; reshuffled each epoch when ``shuffle``.

    Extra keyword arguments (``workers``, ``use_multiprocessing``, ``max_queue_size``)
    go to ``keras.utils.PyDataset``; ``workers > 1`` prefetches batches in threads.
    """

    def __init__(self, x, y, batch_size: int, *, shuffle: bool, seed: int = 0, dtype: str = "float32", **kwargs):
        super().__init__(**kwargs)
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y = x, np.asarray(y, dtype=np.int32)
        self.batch_size, self.shuffle, self.seed, self.dtype = int(batch_size), shuffle, int(seed), dtype
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.y))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.shuffle:
            rows = np.sort(rows)
            return np.asarray(self.x[rows]).astype(self.dtype), self.y[rows]
        start, stop = int(rows[0]), int(rows[-1]) + 1  # contiguous: a plain slice, no gather
        return np.asarray(self.x[start:stop]).astype(self.dtype), self.y[start:stop]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
