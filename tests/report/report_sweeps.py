"""Build REAL sweep results for the report/export tests, following the engine's contract.

``make_sweep`` creates an Optuna study named by the sweep id in a SQLite file
(study user_attrs spec/metric/goal/backend; per trial params, user_attrs
config/trial_dir/wandb_run_id/fail_reason/test_accuracy/epochs_run,
intermediate values epoch -> metric, value = best epoch) and a real trial folder
per trial (config.yaml, metrics.json, history.csv, viz/*.png, optionally a real
tiny model.keras).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

CLASSES = ["Amphibia", "Animalia", "Arachnida"]  # synthesize(classes=3) names
SIZE = 16


@dataclass
class T:
    """One planned trial. ``curve``: val_accuracy per epoch (the metric)."""

    params: dict[str, Any]
    curve: list[float] = field(default_factory=lambda: [0.4, 0.6])
    state: str = "COMPLETE"
    test_accuracy: float | None = 0.5
    metrics: dict[str, Any] = field(default_factory=dict)
    model_seed: int | None = None
    viz: bool = False
    fail_reason: str | None = None


def tiny_model(seed: int, num_classes: int = len(CLASSES), size: int = SIZE):
    """A real small CNN with the project's input contract (raw 0..255 pixels in, softmax out)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, name="block1_conv")(x)
    x = keras.layers.Activation("relu", name="block1_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"tiny_{seed}")


def make_sweep(root: Path, trials: list[T], *, sweep_id: str = "demo-abc123", spec: dict | None = None,
               metric: str = "val_accuracy", goal: str = "maximize") -> str:
    """Create the study in ``root/sweeps.db`` and trial folders under ``root/runs``; returns the storage URL."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{root / 'sweeps.db'}"
    root.mkdir(parents=True, exist_ok=True)
    spec = spec or default_spec(trials, metric, goal)
    study = optuna.create_study(study_name=sweep_id, storage=url,
                                direction="maximize" if goal == "maximize" else "minimize")
    for key, value in {"spec": spec, "metric": metric, "goal": goal, "backend": "local"}.items():
        study.set_user_attr(key, value)
    distributions = _distributions(trials)
    for number, plan in enumerate(trials):
        trial_dir = root / "runs" / sweep_id / f"trial-{number:04d}"
        config = _config(plan)
        _write_folder(trial_dir, plan, config, metric)
        attrs = {"config": config, "trial_dir": str(trial_dir), "wandb_run_id": f"run{number:04d}",
                 "epochs_run": len(plan.curve)}
        if plan.test_accuracy is not None:
            attrs["test_accuracy"] = plan.test_accuracy
        if plan.fail_reason:
            attrs["fail_reason"] = plan.fail_reason
        finished = plan.state == "COMPLETE"
        study.add_trial(optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, plan.state), params=plan.params,
            distributions={k: distributions[k] for k in plan.params},
            value=(max(plan.curve) if goal == "maximize" else min(plan.curve)) if finished else None,
            intermediate_values={e: v for e, v in enumerate(plan.curve, start=1)}, user_attrs=attrs))
    return url


def default_spec(trials: list[T], metric: str, goal: str) -> dict:
    names = sorted({k for t in trials for k in t.params})
    params: dict[str, Any] = {"model": {"value": "scratch"}, "image_size": {"value": SIZE}}
    for name in names:
        params[name] = {"values": sorted({json.dumps(t.params[name]) for t in trials if name in t.params})}
    return {"name": "demo", "method": "random", "metric": {"name": metric, "goal": goal}, "parameters": params}


def _distributions(trials: list[T]) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name in {k for t in trials for k in t.params}:
        values = [t.params[name] for t in trials if name in t.params]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[name] = IntDistribution(min(values), max(max(values), min(values) + 1))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[name] = FloatDistribution(min(values), max(max(values), min(values) + 1e-9))
        else:
            out[name] = CategoricalDistribution(sorted(set(values), key=str))
    return out


def _config(plan: T) -> dict:
    config = {"model": "scratch", "image_size": SIZE, "epochs": len(plan.curve), "batch_size": 8,
              "optimizer": "adam", "learning_rate": 0.001, "resize": "squash", "seed": 0}
    for key, value in plan.params.items():
        config[key] = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
    return config


def _write_folder(trial_dir: Path, plan: T, config: dict, metric: str) -> None:
    trial_dir.mkdir(parents=True)
    (trial_dir / "config.yaml").write_text(yaml.safe_dump(config))
    best_epoch = int(np.argmax(plan.curve)) + 1
    metrics = {"state": {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed"}.get(plan.state, "running"),
               "metric": metric, "goal": "maximize", "best_epoch": best_epoch, "best_value": max(plan.curve),
               "val_accuracy": max(plan.curve), "val_loss": 1.0, "test_accuracy": plan.test_accuracy,
               "test_loss": 1.1, "epochs_run": len(plan.curve), "params": 1234, "trainable_params": 1200,
               "flops": 56789, "layer_tuning_ratio": 1.0, "parameter_tuning_ratio": 1.0, "wall_time_s": 12.5,
               "train_images_per_s": 100.0, "startup_s": 1.0, "wandb_run_id": "run", "wandb_run_dir": None,
               "fingerprint": "fp-123", "split_id": "split-456", "class_names": CLASSES, "image_size": SIZE,
               "backend": "tensorflow"}
    metrics.update(plan.metrics)
    (trial_dir / "metrics.json").write_text(json.dumps(metrics))
    with (trial_dir / "history.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
        for epoch, value in enumerate(plan.curve):
            writer.writerow([epoch, value + 0.05, 1.0 - value, value, 1.1 - value])
    if plan.viz:
        _write_viz(trial_dir / "viz")
    if plan.model_seed is not None:
        tiny_model(plan.model_seed).save(trial_dir / "model.keras")


def _write_viz(folder: Path) -> None:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("filters", "confusion_matrix"):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / f"{name}.png")


def run_cli(argv: list[str]) -> int:
    """Run ``inat-cnn ARGV`` in-process; its exit code (0 on success)."""
    from inat_cnn.cli import main

    try:
        main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0
