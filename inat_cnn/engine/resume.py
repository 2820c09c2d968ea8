"""Which resume point a re-queued trial continues from, and the pruner values it carries over.

A copy made by ``recovery.requeue_once`` knows the trial it replaces (the last entry of its
``retry_history``). When that trial's folder holds a resume point (``training.resume``), the copy
continues from it: its own folder, the same wandb run. The pruner must see the same curve as an
uninterrupted trial, so the epochs the resume point covers are reported again on the copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from ..training import resume as points
from . import optuna_adapter as adapter


def predecessor(trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
    """The trial this re-queued copy replaces, or None for a fresh point."""
    frozen = adapter.frozen(trial)
    history = frozen.system_attrs.get("retry_history") or []
    if not history:
        return None
    number = int(history[-1])
    return next((t for t in trial.study.get_trials(deepcopy=False) if t.number == number), None)


def plan(trial: optuna.Trial, trial_dir: Path) -> dict[str, Any] | None:
    """The resume job for ``trial`` (None: train from epoch 1), after re-reporting the covered epochs."""
    before = predecessor(trial)
    folder = before.user_attrs.get("trial_dir") if before is not None else None
    point = points.read_point(Path(folder)) if folder else None
    if point is None:
        return None
    for step, value in sorted(before.intermediate_values.items()):
        if step <= point["epoch"]:
            trial.report(value, step)
    trial.set_user_attr("resumed_from", {"trial": before.number, "epoch": point["epoch"]})
    return {"from": str(folder), "epoch": point["epoch"]}
