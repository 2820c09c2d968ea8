"""Accelerator-dependent settings of a trial: precision, XLA, batch feeding, compile cache.

- precision: ``mixed_bfloat16`` on a GPU with bf16 (compute capability >= 8.0; under
  JAX any GPU that does not report an older capability), ``mixed_float16`` on older
  GPUs (Keras adds loss scaling), ``float32`` on the CPU. Models keep their softmax
  in float32.
- XLA: off on CPU TensorFlow (2-3x slower there, measured), Keras' ``"auto"``
  elsewhere; under JAX every step is jitted anyway.
- batches: on a GPU, uint8 batches (4x less host->device traffic; models cast and
  rescale inside) prepared by background threads; on the CPU, float32 in the
  main thread (measured: threads only compete with the training step for cores).
- compile cache: JAX's persistent cache in ``<workspace>/cache/jax`` (compile_cache.py).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import keras

from ..cpus import usable_cpus

BF16_MIN_CAPABILITY = (8, 0)  # Ampere and later
GPU_BATCH_WORKERS = 4


@dataclass(frozen=True)
class Accelerator:
    """What a trial runs on: backend, GPU or not, and the GPU's CUDA compute capability if known."""

    backend: str
    gpu: bool
    name: str = "cpu"
    compute_capability: tuple[int, int] | None = None

    @property
    def bf16(self) -> bool:
        return self.gpu and supports_bf16(self.backend, self.compute_capability)

    @property
    def policy(self) -> str:
        return precision_policy(self.gpu, self.bf16)


def supports_bf16(backend: str, compute_capability: tuple[int, int] | None) -> bool:
    """bf16 where the capability says so; a GPU without a reported capability: yes under JAX only."""
    if compute_capability is None:
        return backend == "jax"  # XLA GPU (ROCm, ...) handles bf16; TF/torch without a capability: unknown
    return tuple(compute_capability) >= BF16_MIN_CAPABILITY


def precision_policy(gpu: bool, bf16: bool | None = None) -> str:
    """The Keras dtype policy: mixed_bfloat16 / mixed_float16 on a GPU, float32 on the CPU.

    ``bf16=None`` asks the current device (``detect_accelerator().bf16``).
    """
    if not gpu:
        return "float32"
    if bf16 is None:
        bf16 = detect_accelerator().bf16
    return "mixed_bfloat16" if bf16 else "mixed_float16"


def jit_setting(gpu: bool):
    """XLA on CPU TensorFlow is 2-3x slower (measured): off there, Keras' "auto" elsewhere."""
    return False if keras.config.backend() == "tensorflow" and not gpu else "auto"


def batch_options(gpu: bool) -> dict:
    """``ArrayBatches`` keyword arguments: uint8 + prefetch threads on a GPU, float32 inline on the CPU."""
    if not gpu:
        return {"dtype": "float32"}
    workers = max(1, min(GPU_BATCH_WORKERS, usable_cpus() - 1))
    return {"dtype": "uint8", "workers": workers, "max_queue_size": 8}


def has_gpu() -> bool:
    """Whether the current Keras backend sees a GPU."""
    return detect_accelerator().gpu


def detect_accelerator() -> Accelerator:
    """The first GPU the Keras backend sees (name, compute capability), or the CPU."""
    backend = keras.config.backend()
    try:
        found = _DETECT.get(backend, lambda: None)()
    except Exception:  # a broken driver means: train on the CPU
        found = None
    if found is None:
        return Accelerator(backend, False)
    name, capability = found
    return Accelerator(backend, True, name, capability)


def _detect_tensorflow():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", "GPU"), _capability(details.get("compute_capability"))


def _detect_jax():
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return None
    return gpus[0].device_kind, _capability(getattr(gpus[0], "compute_capability", None))


def _detect_torch():
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0), tuple(torch.cuda.get_device_capability(0))


_DETECT = {"tensorflow": _detect_tensorflow, "jax": _detect_jax, "torch": _detect_torch}


def _capability(value) -> tuple[int, int] | None:
    """(major, minor) from TF's tuple or JAX's "9.0" string; None when absent or unreadable."""
    if value is None:
        return None
    try:
        parts = str(value).split(".") if isinstance(value, str) else list(value)
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except (ValueError, TypeError, IndexError):
        return None


def prepare_backend(workspace_cache: str | os.PathLike[str]) -> Path | None:
    """Once per trial, before anything compiles: the persistent compile cache (JAX); its folder or None."""
    from ..compile_cache import enable_compile_cache

    return enable_compile_cache(Path(workspace_cache))


@contextlib.contextmanager
def dtype_policy(name: str):
    """Set the global dtype policy for one trial and restore the previous one after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
