"""Saving and loading models: atomic, portable saves; safe_mode loads with one-paragraph errors.

A saved model.keras holds only Keras' own classes (layers, losses, metrics, optimizers,
schedules), so plain ``keras.saving.load_model(path)`` loads it in a Python that has
never imported this project. The one training-only object, the label-smoothing loss,
is replaced by its built-in stand-in in the saved compile config (docs/exports.md).
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .. import atomic
from ..errors import UserError

_MAX_DETAIL = 400  # characters of the loader's own message kept in the error


def save_model(model, path) -> Path:
    """``model.save`` into a temporary file beside ``path``, then rename: a kill never leaves half a model."""
    path = Path(path)
    with atomic.replacing(path) as tmp, _portable_compile_config(model):  # the temp name keeps .keras
        model.save(tmp)
    return path


@contextlib.contextmanager
def _portable_compile_config(model) -> Iterator[None]:
    """While saving, the compile config names the loss's built-in stand-in (``saved_as``) if it has one."""
    saved_as = getattr(getattr(model, "loss", None), "saved_as", None)
    config = model.get_compile_config() if saved_as is not None else None
    if config is None:
        yield
        return
    import keras

    portable = {**config, "loss": keras.saving.serialize_keras_object(saved_as())}
    object.__setattr__(model, "get_compile_config", lambda: portable)  # past Keras' attribute tracking
    try:
        yield
    finally:
        object.__delattr__(model, "get_compile_config")


def load_model(path, compile: bool = True):
    """``keras.saving.load_model(path, safe_mode=True)``; UserError (one paragraph) for anything unloadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a Keras model (.keras zip file)")
    import keras

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - whatever a crafted or damaged file makes Keras raise is bad input
        raise UserError(f"{path} is not a loadable Keras model ({type(err).__name__}: {_reason(err)}). It must be a "
                        "model.keras written by Keras 3 holding only Keras' own layers (loaded with safe_mode, "
                        "so Python lambdas are refused); re-export it, or train it again.") from None


def _reason(err: Exception) -> str:
    """Keras' own message in one line: the innermost cause, without the config dumps it appends."""
    text = " ".join(str(err).split()).rsplit("Exception encountered: ", 1)[-1]
    text = text.split(" Full object config:", 1)[0].split(" config={", 1)[0]
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL].rstrip() + " ..."
