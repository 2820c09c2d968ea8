"""A layer-fine-tuning grid end to end, with and without the frozen-prefix feature cache.

MobileNetV2 (weights none: the cost is the same as imagenet's), frozen-k for 5 values of k, E epochs, no
augmentation, on a small generated dataset. Each trial is a full ``run_trial`` (build, fit, checkpoint,
test evaluation; figures off) in a fresh workspace per arm, so the cached arm pays every cache build.
The arms alternate trial by trial (a shared machine's load then hits both alike). Prints and writes
JSON: wall and CPU time per arm, the end-to-end ratios, the mean per-epoch ratio, and per trial where
the time went (timers around run_trial's parts: model build, feature cache, fit, checkpoints, resume
points, test pass, wandb) and the load average.

    .venv/bin/python benchmarks/feature_cache.py --out /tmp/feature_cache.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _grid(ks, image_size, epochs, batch, feature_cache, backbone="mobilenet_v2"):
    """The grid's trial configs; with the cache, ``feature_cache_cuts`` as the local engine fills it from the
    grid's sweep (``trainable_layers: {values: ks}``): the first build writes every k's cut."""
    fixed = {"model": "finetune", "backbone": backbone, "weights": "none", "image_size": image_size,
             "epochs": epochs, "batch_size": batch, "viz": False, "feature_cache": feature_cache}
    cuts = {"feature_cache_cuts": _engine_cuts(fixed, ks)} if feature_cache else {}
    return [fixed | {"trainable_layers": k} | cuts for k in ks]


def _engine_cuts(fixed: dict, ks) -> list[int]:
    from inat_cnn.engine.space import feature_cache_cuts
    from inat_cnn.spec import validate_sweep_dict

    spec = validate_sweep_dict({"method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
                                "parameters": {**{k: {"value": v} for k, v in fixed.items()},
                                               "trainable_layers": {"values": list(ks)}}}).spec
    return feature_cache_cuts(spec)


#: (module, function, timer): run_trial's parts, timed by wrapping them (nested timers are not subtracted)
TIMED = [("inat_cnn.models", "build_model", "model build"),
         ("inat_cnn.features.cache", "load_or_build_many", "feature cache build/open"),
         ("inat_cnn.features.phase", "suffix_model", "suffix model build"),
         ("keras.Model", "fit", "fit (all epochs, incl. checkpoints)"),
         ("inat_cnn.training.callbacks", "save_model", "best checkpoint saves"),
         ("inat_cnn.training.resume", "write_point", "resume points"),
         ("inat_cnn.features.phase", "test_on_features", "test pass"),
         ("inat_cnn.training.post_training", "test_best", "test pass"),
         ("inat_cnn.training.wandb_run", "open_run", "wandb"),
         ("inat_cnn.training.wandb_run", "finish", "wandb"),
         ("inat_cnn.training.wandb_run", "log_model", "wandb")]
TIMERS: dict[str, float] = {}


def _install_timers() -> None:
    import importlib

    def timed(fn, label):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                TIMERS[label] = TIMERS.get(label, 0.0) + time.perf_counter() - t0
        return run

    for where, name, label in TIMED:
        module, _, cls = where.rpartition(".") if where == "keras.Model" else (where, "", "")
        owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(where)
        setattr(owner, name, timed(getattr(owner, name), label))


def _trial(arm: str, i: int, cfg: dict, splits, work: Path) -> dict:
    from inat_cnn.training.trial import run_trial

    os.environ["INAT_CNN_HOME"] = str(work / arm)  # one workspace per arm: the cached arm pays its builds
    TIMERS.clear()
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_trial(cfg, None, work / arm / f"trial{i}", splits=splits, wandb_mode="offline")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    epochs = [round(r["epoch_time_s"], 3) for r in result.history]
    return {"k": cfg["trainable_layers"], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "epoch_s": epochs,
            "load_avg_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
            "parts_s": {k: round(v, 2) for k, v in TIMERS.items()} | {"first epoch": epochs[0]},
            "val_accuracy": result.val_accuracy, "test_accuracy": result.test_accuracy,
            "feature_cache": list(result.feature_cache)}


def _arms(ks, args, splits, work: Path) -> dict:
    """Both arms, interleaved trial by trial (a shared machine's load then hits both alike)."""
    _trial("warmup", 0, _grid([0], args.image_size, 1, args.batch_size, False, args.backbone)[0], splits,
           work)  # TF start-up
    arms = {"without_cache": {"trials": []}, "with_cache": {"trials": []}}
    grids = {on: _grid(ks, args.image_size, args.epochs, args.batch_size, on, args.backbone) for on in (False, True)}
    for i in range(len(ks)):
        order = (("without_cache", False), ("with_cache", True))
        for arm, on in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
            arms[arm]["trials"].append(_trial(arm, i, grids[on][i], splits, work))
    for arm in arms.values():
        arm["wall_s"] = round(sum(t["wall_s"] for t in arm["trials"]), 2)
        arm["cpu_s"] = round(sum(t["cpu_s"] for t in arm["trials"]), 2)
        parts: dict[str, float] = {}
        for t in arm["trials"]:
            for k, v in t["parts_s"].items():
                parts[k] = round(parts.get(k, 0.0) + v, 2)
        arm["parts_s"] = parts
    return arms


def precision_check(splits, image_size: int, ks, steps: int, work: Path) -> dict:
    """The same steps on float16 and on float32 features, from the same weights: how far apart they end."""
    import keras
    import numpy as np

    from inat_cnn.data import ArrayBatches
    from inat_cnn.features.phase import plan_phase
    from inat_cnn.models import apply_phase
    from inat_cnn.models.finetune import build_finetune
    from inat_cnn.training.optim import compile_model
    from inat_cnn.trial_config import parse_trial_config

    out = {}
    for k in ks:
        keras.utils.set_random_seed(0)
        cfg = parse_trial_config(_grid([k], image_size, 1, 16, True)[0])
        model = build_finetune(cfg, len(splits.class_names))
        rng = np.random.default_rng(1)
        for v in model.variables:  # random-init activations vanish with zero BN shifts: keep them alive
            if v.path.endswith("/beta"):
                v.assign(rng.uniform(0.1, 0.5, v.shape).astype("float32"))
        initial = [np.array(v.numpy()) for v in model.variables]
        runs = {}
        for dtype in ("float32", "float16"):
            for v, w in zip(model.variables, initial):
                v.assign(w)
            apply_phase(model, cfg, "fine_tune")
            compile_model(model, cfg, learning_rate=1e-3, phase_steps=steps, num_classes=len(splits.class_names),
                          jit_compile=False)
            train = ArrayBatches(splits.x_train[: steps * 16], splits.y_train[: steps * 16], 16, shuffle=False)
            phase = plan_phase(model, cfg, splits, work / f"prec-{dtype}", "fine_tune", train, [], dtype=dtype)
            keras.utils.set_random_seed(1)
            hist = phase.suffix.fit(phase.train, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
            val = phase.suffix.evaluate(phase.val, verbose=0, return_dict=True)
            runs[dtype] = (hist.history["loss"][-1], val, [np.array(v.numpy()) for v in model.trainable_variables])
        (l32, v32, w32), (l16, v16, w16) = runs["float32"], runs["float16"]
        out[k] = {"train_loss_f32": l32, "train_loss_f16": l16,
                  "val_loss_f32": v32["loss"], "val_loss_f16": v16["loss"],
                  "val_acc_f32": v32["accuracy"], "val_acc_f16": v16["accuracy"],
                  "max_weight_diff": float(max(np.abs(a - b).max() for a, b in zip(w32, w16)))}
    return out


def _commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--ks", default="0,5,10,20,40")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--precision", action="store_true", help="Only compare float16 and float32 features")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["INAT_CNN_QUIET"] = "1"
    from inat_cnn.data import load_splits, synthesize

    work = Path(tempfile.mkdtemp(prefix="inat_fc_bench_"))
    root = synthesize(work / "data", classes=args.classes, per_class=args.per_class, test_per_class=4,
                      min_side=args.image_size, max_side=args.image_size + 32)
    splits = load_splits(root, args.image_size, cache_dir=work / "decode")
    ks = [int(k) for k in args.ks.split(",")]
    if args.precision:
        print(json.dumps(precision_check(splits, args.image_size, ks, 10, work), indent=1))
        return
    from feature_cache_bound import grid_bound, split_flops

    bound = [split_flops(args.backbone, args.image_size, k) for k in ks]  # before the timers: untimed
    _install_timers()
    arms = _arms(ks, args, splits, work)

    def mean_epoch(arm):  # epochs after the first (tracing) of every trial
        later = [e for t in arms[arm]["trials"] for e in t["epoch_s"][1:]]
        return sum(later) / len(later)

    result = {"args": vars(args) | {"out": str(args.out)}, "train_images": len(splits.y_train),
              "val_images": len(splits.y_val), "test_images": len(splits.y_test), "commit": _commit(),
              "end_to_end_ratio": round(arms["without_cache"]["wall_s"] / arms["with_cache"]["wall_s"], 2),
              "end_to_end_cpu_ratio": round(arms["without_cache"]["cpu_s"] / arms["with_cache"]["cpu_s"], 2),
              "per_epoch_ratio": round(mean_epoch("without_cache") / mean_epoch("with_cache"), 2),
              "flop_bound": {"per_k": bound, "grid": grid_bound(bound)}, "arms": arms}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
