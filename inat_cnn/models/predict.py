"""Class probabilities of a model over many images, one batch in memory at a time.

``model.predict(x)`` on a ``np.memmap`` makes Keras build one tensor of the whole array in RAM (its
array adapter copies it); slicing the array here keeps only ``batch_size`` images in memory, so a
decoded cache larger than RAM can be predicted on.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_probs(model: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Softmax outputs (N, C) for uint8 or float images ``x`` (possibly a memmap), read in batches."""
    chunks = [np.asarray(model.predict_on_batch(np.asarray(x[i:i + batch_size], dtype="float32")))
              for i in range(0, len(x), batch_size)]
    if not chunks:
        return np.zeros((0, int(model.output_shape[-1])), dtype="float32")
    return np.concatenate(chunks, axis=0)
