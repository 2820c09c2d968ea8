"""Loading saved models: safe_mode on, clear errors for a wrong path."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import UserError


def load_model(path, compile: bool = True):
    """``keras.saving.load_model(path, safe_mode=True)``; UserError if the path is not a .keras model."""
    import keras

    from ..training import optim  # noqa: F401  (registers the smoothed loss a checkpoint may be compiled with)
    from . import preprocess  # noqa: F401  (registers the custom layer before deserialising)

    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a Keras model (.keras zip file)")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as err:
        raise UserError(f"{path} is not a loadable Keras model: {err}") from None
