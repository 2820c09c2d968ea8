"""Accelerator-dependent settings: mixed precision on a GPU only, XLA off on CPU TensorFlow."""

from __future__ import annotations

import contextlib

import keras


def has_gpu() -> bool:
    """Whether the current Keras backend sees a GPU."""
    backend = keras.config.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # a broken driver means: train on the CPU
        return False
    return False


def precision_policy(gpu: bool) -> str:
    """mixed_float16 on a GPU (Keras adds loss scaling), float32 elsewhere."""
    return "mixed_float16" if gpu else "float32"


def jit_setting(gpu: bool):
    """XLA on CPU TensorFlow is 2-3x slower (PITFALLS): off there, Keras' "auto" elsewhere."""
    return False if keras.config.backend() == "tensorflow" and not gpu else "auto"


@contextlib.contextmanager
def dtype_policy(name: str):
    """Set the global dtype policy for one trial and restore the previous one after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
