"""The trial monitor: per-epoch timing, NaN guard, best checkpoint, early stopping, engine hook.

One instance lives through both fine-tuning phases (two ``fit`` calls), so the
best value, the patience counter and the history carry over. An epoch that a stop
request cut short (see stop.py) is dropped: the best checkpoint is of a whole epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from ..errors import TrialFailed
from ..models.io import save_model
from .optim import current_lr
from .stop import StopRequest

LOGGED = ("loss", "accuracy", "val_loss", "val_accuracy")


def is_better(value: float, best: float | None, goal: str) -> bool:
    if best is None:
        return True
    return value > best if goal == "maximize" else value < best


class TrialMonitor(keras.callbacks.Callback):
    """Records one row per epoch and acts on it; ``sinks`` get every row (wandb), ``on_epoch_end`` last."""

    def __init__(self, *, monitor: str, goal: str, checkpoint: Path, n_train: int, patience: int = 0,
                 sinks: list[Callable[[dict], None]] | None = None,
                 on_epoch_end: Callable[[int, dict], Any] | None = None, stop: StopRequest | None = None):
        super().__init__()
        self.monitor, self.goal, self.checkpoint = monitor, goal, Path(checkpoint)
        self.n_train, self.patience = n_train, patience
        self.sinks = list(sinks or [])
        self.hook = on_epoch_end
        self.stop = stop
        self.phase = "train"
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_early = False
        self.train_started_at: float | None = None
        self._epoch_start = self._train_end = 0.0

    @property
    def best_row(self) -> dict[str, Any] | None:
        return next((r for r in self.history if r["epoch"] == self.best_epoch), None)

    def on_train_begin(self, logs=None):
        # No batch-level hooks on purpose: overriding one makes Keras sync logs every step.
        if self.train_started_at is None:
            self.train_started_at = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._train_end = 0.0

    def on_test_begin(self, logs=None):
        if not self._train_end:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.stop is not None and self.stop.cut_epoch == epoch:
            return  # cut short by a stop request: not an epoch, not a checkpoint
        now = time.perf_counter()
        train_time = (self._train_end or now) - self._epoch_start
        row = {"epoch": epoch + 1, "phase": self.phase}
        row.update({k: float(logs[k]) for k in LOGGED if logs and k in logs})
        row.update(lr=current_lr(self.model.optimizer), epoch_time_s=now - self._epoch_start,
                   images_per_s=self.n_train / train_time if train_time > 0 else 0.0)
        failure = self._nan_failure(row)
        if failure is None:
            self._track_best(row)
        self.history.append(row)
        for sink in self.sinks:
            sink(row)
        if failure is not None:
            raise failure
        if self.hook is not None and self.hook(row["epoch"], dict(row)) is True:  # the engine: stop here, finished
            self.stopped_early = True
            self.model.stop_training = True
        if self.patience and self.wait >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True

    def _nan_failure(self, row: dict) -> TrialFailed | None:
        for key in ("loss", "val_loss"):
            if key in row and not math.isfinite(row[key]):
                shown = "NaN" if math.isnan(row[key]) else str(row[key])
                return TrialFailed(
                    f"{key} became {shown} at epoch {row['epoch']} (learning rate {row['lr']:.3g}); "
                    "try a lower learning_rate, a schedule, or batch_norm: true")
        return None

    def _track_best(self, row: dict) -> None:
        if self.monitor not in row:
            raise TrialFailed(f"metric {self.monitor} is not logged by training (logged: {', '.join(row)})")
        value = row[self.monitor]
        if math.isfinite(value) and is_better(value, self.best_value, self.goal):
            self.best_value, self.best_epoch, self.wait = value, row["epoch"], 0
            save_model(self.model, self.checkpoint)  # atomic; loads in plain Keras
        else:
            self.wait += 1
