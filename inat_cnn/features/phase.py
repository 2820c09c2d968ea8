"""Whether a training phase runs on cached features, and everything it needs when it does.

``plan_phase`` returns a ``CachedPhase`` whose ``record`` says what happened (used, or why not; the
build's seconds and bytes): the trial puts it in metrics.json, the wandb summary and the report. When
``used``, ``suffix`` (compiled with the full model's own optimizer, loss and metric) is what
``fit`` trains, on ``train``/``val`` batches of cut tensors, with ``callbacks`` that see the full model.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..data.cache import PARTS
from . import cache as fcache
from .cut import find_cut, prefix_model, suffix_model
from .suffix import BestWeights, FeatureBatches, on_full_model

ENV_SWITCH = "INAT_CNN_FEATURE_CACHE"
ENV_BUDGET = "INAT_CNN_FEATURE_CACHE_MAX_GB"
DEFAULT_BUDGET_GB = 50.0
#: Images per prefix call while building (every call the same shape: one trace; see cache._stream)
BUILD_BATCH = 64


@dataclass
class CachedPhase:
    record: dict[str, Any]
    suffix: keras.Model | None = None
    train: FeatureBatches | None = None
    val: FeatureBatches | None = None
    callbacks: list = field(default_factory=list)
    test: FeatureBatches | None = None
    full: keras.Model | None = None  # the full model, whose layers the suffix runs
    cut: Any = None  # the Cut (its prefix layers' weights are what the features were computed with)
    weights_xxh3: str | None = None  # their hash at build time
    best: BestWeights | None = None  # the suffix's variables as the checkpoint file holds them

    @property
    def used(self) -> bool:
        return bool(self.record.get("used"))


def switched_off(config) -> str | None:
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return f"switched off ({ENV_SWITCH}={os.environ[ENV_SWITCH]})"
    if not getattr(config, "feature_cache", True):
        return "switched off (feature_cache: false)"
    return None


def _budget_problem(need: int, where: Path) -> str | None:
    budget = float(os.environ.get(ENV_BUDGET) or DEFAULT_BUDGET_GB) * 1e9
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free
    if need > budget:
        return (f"the cut is too large: {need / 1e9:.2f} GB of features over the {budget / 1e9:g} GB budget "
                f"({ENV_BUDGET})")
    if need > 0.8 * free:
        return f"the cut is too large: {need / 1e9:.2f} GB of features but only {free / 1e9:.2f} GB free"
    return None


def _identity(config, cut, splits) -> dict:
    return {"backbone": getattr(config, "backbone", "model"), "weights": str(getattr(config, "weights", None)),
            "weights_xxh3": fcache.weights_hash(cut.prefix_layers()), "image_size": int(config.image_size),
            "resize": getattr(config, "resize", None), "split": _split_identity(splits), "cut": cut.describe(),
            "dtype_policy": keras.config.dtype_policy().name}


def _split_identity(splits) -> str:
    fingerprint = getattr(splits, "fingerprint", None)
    if fingerprint:
        return f"{getattr(splits, 'split_id', '')}:{fingerprint}"
    from xxhash import xxh3_64

    h = xxh3_64()  # arrays without a manifest (tests, benchmarks): hash their content
    for part in PARTS:
        for a in (getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def plan_phase(model: keras.Model, config, splits, cache_dir: Path, phase: str, train, callbacks: list, *,
               log=lambda msg: None, dtype: str = "float16", checkpoint: Path | None = None) -> CachedPhase:
    """Decide for one phase (after ``apply_phase`` and ``compile_model`` on the full model).

    ``checkpoint``: the file a callback saves the best epoch's full model to (its weights are then kept in
    memory too, for ``test_on_features``).
    """
    from ..models.finetune import find_backbone

    why = switched_off(config)
    if why is None and getattr(config, "augment", False):
        why = f"augmentation on (augment: {config.augment}): the frozen prefix sees new images every epoch"
    if why is None and find_backbone(model) is None:
        why = "no pretrained backbone: the whole model trains"
    cut = None
    if why is None:
        cut = find_cut(model)
        why = cut.problem
    rows = sum(len(getattr(splits, f"y_{p}")) for p in PARTS)
    if why is None:
        shapes = [tuple(t.shape[1:]) for t in cut.tensors]
        why = _budget_problem(fcache.estimate_bytes(shapes, rows), fcache.features_root(cache_dir))
    if why is not None:
        return CachedPhase({"phase": phase, "used": False, "reason": why})
    return _cached(model, config, splits, cache_dir, phase, train, callbacks, cut, log, dtype, checkpoint)


def _cached(model, config, splits, cache_dir, phase, train, callbacks, cut, log, dtype, checkpoint) -> CachedPhase:
    started = time.perf_counter()
    prefix = prefix_model(cut)

    def compute(images: np.ndarray) -> list:
        out = prefix.predict_on_batch(images.astype("float32"))
        return list(out) if isinstance(out, (list, tuple)) else [out]

    shapes = [tuple(t.shape[1:]) for t in cut.tensors]
    parts = {p: getattr(splits, f"x_{p}") for p in PARTS}
    identity = _identity(config, cut, splits)
    features = fcache.load_or_build(cache_dir, identity, shapes, parts, compute,
                                    batch=max(int(config.batch_size), BUILD_BATCH), dtype=dtype, log=log)
    suffix = suffix_model(cut)
    suffix.compile(optimizer=model.optimizer, loss=model.loss,
                   metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=model.jit_compile)
    in_dtype = keras.backend.standardize_dtype(cut.tensors[0].dtype)
    train_batches = FeatureBatches(features.parts["train"], splits.y_train, config.batch_size, shuffle=True,
                                   seed=train.seed, dtype=in_dtype, epoch=train.epoch)
    val_batches, test_batches = (FeatureBatches(features.parts[p], getattr(splits, f"y_{p}"), config.batch_size,
                                                shuffle=False, dtype=in_dtype) for p in ("val", "test"))
    record = {"phase": phase, "used": True, "key": features.path.name, "built": features.built,
              "build_s": round(time.perf_counter() - started, 3), "bytes": features.bytes,
              "dtype": features.meta["dtype"], "cut": cut.describe(),
              "first_build_s": features.meta.get("seconds")}
    best = BestWeights(suffix, checkpoint) if checkpoint is not None else None
    fit_callbacks = on_full_model(callbacks, model) + ([best] if best else [])  # after the one that saves
    return CachedPhase(record, suffix, train_batches, val_batches, fit_callbacks, test_batches, model, cut,
                       identity["weights_xxh3"], best)


def finish_phase(phase: CachedPhase, train) -> None:
    """Carry the epoch count back to the image batches, so a later phase shuffles as without the cache."""
    if phase.used:
        train.epoch = phase.train.epoch
        train.order = train._order()


def test_on_features(phase: CachedPhase | None, checkpoint: Path, records: tuple = (),
                     snapshots: bool = False) -> dict[str, Any]:
    """The best checkpoint's test scores from the cached test features, as facts for the trial's record.

    The suffix on the cut tensors is the full model on the images: ``checkpoint``'s weights go into the full
    model (the suffix runs its layers), and the cached features serve when the checkpoint's prefix weights
    are the ones they were computed from. Returns ``test_loss``/``test_accuracy`` (absent: test the full
    model on the images) and ``feature_cache``: ``records`` plus this test pass's record (used, or why not);
    ``{}`` when no training phase used the cache.
    """
    if phase is None or not phase.used or phase.test is None or not len(phase.test.y):
        return {}
    if snapshots:
        return _not_on_features(records, "a snapshot ensemble: its snapshots are tested on the images")
    source = "kept in memory"
    if phase.best is None or not phase.best.restore():  # the best epoch was not this phase's: read the file
        source = checkpoint.name
        with warnings.catch_warnings():  # the optimizer's state is not what is tested: skipping it is fine
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            phase.full.load_weights(checkpoint)
    if fcache.weights_hash(phase.cut.prefix_layers()) != phase.weights_xxh3:
        return _not_on_features(records, "the best checkpoint's frozen layers differ from the ones the features "
                                         "were computed with")
    started = time.perf_counter()
    scores = phase.suffix.evaluate(phase.test, verbose=0, return_dict=True)
    record = {"phase": "test", "used": True, "key": phase.record["key"], "dtype": phase.record["dtype"],
              "weights": source, "seconds": round(time.perf_counter() - started, 3)}
    return {"test_loss": float(scores["loss"]), "test_accuracy": float(scores["accuracy"]),
            "feature_cache": (*records, record)}


def _not_on_features(records: tuple, why: str) -> dict[str, Any]:
    return {"feature_cache": (*records, {"phase": "test", "used": False, "reason": why})}
