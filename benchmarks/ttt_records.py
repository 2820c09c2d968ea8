"""Read back what a local-engine sweep did, trial by trial, from its workspace: the Optuna storage (state,
parameters, claim and end times, the engine's attributes) and each trial folder (history.csv, metrics.json).

A record per trial: ``val_accuracy`` and ``epoch_time_s`` per epoch, ``startup_s`` (claim to first training
step), ``inner_startup_s`` (the part inside run_trial), ``wall_time_s`` (run_trial's own time),
``claim_to_end_s``, ``started_at``/``ended_at`` (Unix seconds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def read_sweep(workspace: Path) -> dict[str, Any]:
    """The one sweep of ``workspace`` (the benchmark gives every sweep a workspace of its own)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = f"sqlite:///{Path(workspace) / 'sweeps.db'}"
    names = optuna.get_all_study_names(storage=url)
    if len(names) != 1:
        raise RuntimeError(f"{workspace}: expected one sweep, found {names}")
    study = optuna.load_study(study_name=names[0], storage=url)
    trials = [trial_record(Path(workspace), names[0], t) for t in study.get_trials(deepcopy=False)]
    return {"sweep_id": names[0], "stopped_reason": study.user_attrs.get("stopped_reason"),
            "study_attrs": {k: v for k, v in study.user_attrs.items() if k not in ("spec", "dataset")},
            "trials": trials}


def trial_record(workspace: Path, sweep_id: str, trial: Any) -> dict[str, Any]:
    folder = Path(trial.user_attrs.get("trial_dir") or workspace / "runs" / sweep_id / f"trial-{trial.number:04d}")
    history = _history(folder / "history.csv")
    metrics = _json(folder / "metrics.json")
    attrs = dict(trial.user_attrs)
    config = attrs.pop("config", None) or dict(trial.params)
    reported = [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
    return {
        "number": trial.number, "state": trial.state.name, "folder_state": metrics.get("state"),
        "params": {k: config.get(k) for k in trial.params} if config else dict(trial.params),
        "value": trial.value,
        "val_accuracy": [row.get("val_accuracy") for row in history] or reported,
        "epoch_time_s": [row.get("epoch_time_s") for row in history],
        "startup_s": attrs.get("startup_s", metrics.get("startup_s")),  # claim -> first training step
        "inner_startup_s": metrics.get("startup_s"),  # run_trial's start -> first step (data, model, compile)
        "wall_time_s": metrics.get("wall_time_s"), "claim_to_end_s": attrs.get("claim_to_end_s"),
        "started_at": trial.datetime_start.timestamp() if trial.datetime_start else None,
        "ended_at": trial.datetime_complete.timestamp() if trial.datetime_complete else None,
        "attrs": {k: v for k, v in attrs.items() if k not in ("agent", "trial_dir")},
    }


def _history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str) -> Any:
    try:
        return float(text) if text not in ("", None) else None
    except ValueError:
        return text


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
