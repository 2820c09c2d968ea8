"""Whether a training phase runs on cached features, and everything it needs when it does.

``plan_phase`` returns a ``CachedPhase`` whose ``record`` says what happened (used, or why not; the
build's seconds and bytes): the trial puts it in metrics.json, the wandb summary and the report. When
``used``, ``suffix`` (compiled with the full model's own optimizer, loss and metric) is what
``fit`` trains, on ``train``/``val`` batches of cut tensors, with ``callbacks`` that see the full model.

A phase that builds features also writes, in the same pass over the images, the cuts of the other frozen-k
values the sweep will need (``feature_cache_cuts``, and the trial's own fine-tune k): each found with the
model's flags set for its k, then the phase's own flags put back before anything is fitted.
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
    rows = _rows(splits)
    if why is None:
        shapes = [tuple(t.shape[1:]) for t in cut.tensors]
        why = _budget_problem(fcache.estimate_bytes(shapes, rows), fcache.features_root(cache_dir))
    if why is not None:
        return CachedPhase({"phase": phase, "used": False, "reason": why})
    return _cached(model, config, splits, cache_dir, phase, train, callbacks, cut, log, dtype, checkpoint)


def _rows(splits) -> int:
    """Images in train, val and test together: what one cut's features hold rows for."""
    return sum(len(getattr(splits, f"y_{p}")) for p in PARTS)


def _phase_k(config, phase: str) -> int:
    return 0 if phase == "head" else int(getattr(config, "trainable_layers", 0))


def _flags(model) -> list:
    """Every layer's and variable's ``trainable`` flag, outer layers first (``_restore`` sets them back)."""
    return ([(layer, layer.trainable) for layer in model._flatten_layers(include_self=True)],
            [(v, v.trainable) for v in model.variables])


def _restore(flags) -> None:
    layers, variables = flags
    for layer, value in layers:  # outer first: a layer's setter recurses, its sublayers are set after it
        layer.trainable = value
    for v, value in variables:
        v.trainable = value


def _other_cuts(model, config, splits, phase: str, own, need: int, cache_dir: Path) -> tuple[list, list[dict]]:
    """The cuts of the other frozen-k values the sweep will need (``feature_cache_cuts`` and the trial's own
    fine-tune k), each found with the model's flags set for its k, then the phase's flags put back.

    Returns ``[(k, cut, identity)]`` for those that a cache can serve within the budget (``need``: the bytes
    already asked for), and a ``{"trainable_layers", "reason"}`` record for each one left out.
    """
    from ..models import apply_phase

    wanted = {int(k) for k in getattr(config, "feature_cache_cuts", None) or ()}
    if hasattr(config, "trainable_layers"):
        wanted.add(int(config.trainable_layers))
    wanted.discard(_phase_k(config, phase))
    if not wanted:
        return [], []
    rows = _rows(splits)
    own_names, found, left_out = own.describe(), [], []
    flags = _flags(model)
    try:
        for k in sorted(wanted):
            apply_phase(model, config.model_copy(update={"trainable_layers": k}), "fine_tune")
            cut = find_cut(model)
            why = cut.problem
            if why is None and cut.describe() == own_names:
                why = "the same cut as this phase's"
            if why is None:
                more = fcache.estimate_bytes([tuple(t.shape[1:]) for t in cut.tensors], rows)
                why = _budget_problem(need + more, fcache.features_root(cache_dir))
            if why is not None:
                left_out.append({"trainable_layers": k, "reason": why})
                continue
            need += more
            found.append((k, cut, _identity(config, cut, splits)))
    finally:
        _restore(flags)
    return found, left_out


def _cached(model, config, splits, cache_dir, phase, train, callbacks, cut, log, dtype, checkpoint) -> CachedPhase:
    started = time.perf_counter()
    parts = {p: getattr(splits, f"x_{p}") for p in PARTS}
    rows = _rows(splits)
    shapes = [tuple(t.shape[1:]) for t in cut.tensors]
    identity = _identity(config, cut, splits)
    others, left_out = [], []
    if not fcache.usable(fcache.features_root(cache_dir) / fcache.feature_key(identity)):  # else: no build
        others, left_out = _other_cuts(model, config, splits, phase, cut, fcache.estimate_bytes(shapes, rows),
                                       cache_dir)
    cuts = [cut] + [c for _, c, _ in others]
    by_id = {id(t): t for c in cuts for t in c.tensors}
    fixed = set().union(*(c.fixed for c in cuts))

    def make_compute(names: list):
        prefix = prefix_model(cut, [by_id[n] for n in names], fixed)

        def compute(images: np.ndarray) -> list:
            out = prefix.predict_on_batch(images.astype("float32"))
            return list(out) if isinstance(out, (list, tuple)) else [out]

        return compute

    def group(c, ident) -> fcache.Group:
        return fcache.Group(ident, [tuple(t.shape[1:]) for t in c.tensors], [id(t) for t in c.tensors])

    features, extra = fcache.load_or_build_many(
        cache_dir, group(cut, identity), [group(c, i) for _, c, i in others], parts, make_compute,
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
              "first_build_s": features.meta.get("seconds"),
              "cuts_in_build": len(features.meta.get("built_with") or [features.path.name])}
    if features.built:
        record.update(_extra_records(others, extra, left_out))
    best = BestWeights(suffix, checkpoint) if checkpoint is not None else None
    fit_callbacks = on_full_model(callbacks, model) + ([best] if best else [])  # after the one that saves
    return CachedPhase(record, suffix, train_batches, val_batches, fit_callbacks, test_batches, model, cut,
                       identity["weights_xxh3"], best)


def _extra_records(others: list, extra: list[dict], left_out: list[dict]) -> dict:
    """What the build did with the other cuts: ``also_built`` (k and key of each written in the same pass) and
    ``also_skipped`` (k and why not: its cut's problem, the budget, complete already, locked by another process)."""
    k_of = {fcache.feature_key(ident): k for k, _, ident in others}
    built = [{"trainable_layers": k_of[r["key"]], "key": r["key"]} for r in extra if r["written"]]
    skipped = left_out + [{"trainable_layers": k_of[r["key"]], "key": r["key"], "reason": r["reason"]}
                          for r in extra if not r["written"]]
    return {"also_built": built} | ({"also_skipped": sorted(skipped, key=lambda r: r["trainable_layers"])}
                                   if skipped else {})


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
