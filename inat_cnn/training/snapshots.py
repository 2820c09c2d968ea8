"""Snapshot ensembles (Huang et al. 2017, "train 1, get M for free") inside one trial.

``lr_schedule: snapshot`` with ``snapshots: M`` runs M equal cosine cycles with warm restarts over the
trial's last phase (``optim.make_schedule``); ``SnapshotSaver`` saves the model at the end of each cycle
to ``snapshots/snapshot-<k>.keras`` (atomically, ``models.io.save_model``) with that epoch's validation
metrics, and ``evaluate_snapshots`` scores the M-snapshot ensemble (the mean of the snapshots' softmax
outputs) on the validation and test splits. Epochs and the best checkpoint are chosen on validation only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..models.io import save_model

FOLDER = "snapshots"


def is_snapshot(config) -> bool:
    return config.lr_schedule == "snapshot"


def phase_cycles(config, end: int) -> int:
    """Cosine cycles of the phase that ends at epoch ``end``: the snapshots for the last phase, else one."""
    return int(config.snapshots) if is_snapshot(config) and end == config.epochs else 1


def snapshot_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / FOLDER / f"snapshot-{index}.keras"


class SnapshotSaver(keras.callbacks.Callback):
    """Saves the model at the end of each cosine cycle of the last phase; ``rows`` lists what was saved.

    Runs after the trial monitor, whose ``cut_epoch`` (an epoch a stop request cut short) it respects.
    """

    def __init__(self, out_dir: Path, config, stop=None):
        super().__init__()
        _, self.first, self.end, _ = config.phases()[-1]
        self.out_dir, self.stop = Path(out_dir), stop
        self.cycle_epochs = (self.end - self.first) // int(config.snapshots)
        self.rows: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1 - self.first
        if epoch + 1 <= self.first or done % self.cycle_epochs or (self.stop is not None and
                                                                     self.stop.cut_epoch == epoch):
            return
        index = done // self.cycle_epochs  # by cycle, so a resumed trial numbers its snapshots right
        path = snapshot_path(self.out_dir, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(self.model, path)
        row = {"snapshot": index, "epoch": epoch + 1, "path": f"{FOLDER}/{path.name}"}
        row.update({k: float(logs[k]) for k in ("val_accuracy", "val_loss") if logs and k in logs})
        self.rows.append(row)


def evaluate_snapshots(out_dir: Path, rows: list[dict[str, Any]], splits, batch_size: int) -> dict[str, Any]:
    """Validation (and test) accuracy and loss of the mean of the saved snapshots' softmax outputs."""
    from ..models import load_model
    from ..models.predict import predict_probs

    val, test = [], []
    for row in rows:
        model = load_model(Path(out_dir) / row["path"], compile=False)
        val.append(predict_probs(model, splits.x_val, batch_size))
        if len(splits.y_test):
            probs = predict_probs(model, splits.x_test, batch_size)
            row["test_accuracy"] = _accuracy(probs, splits.y_test)
            test.append(probs)
    summary = {"members": len(rows), **_scores(np.mean(val, axis=0), splits.y_val, "val")}
    if test:
        summary.update(_scores(np.mean(test, axis=0), splits.y_test, "test"))
    return summary


def _scores(probs: np.ndarray, labels: np.ndarray, prefix: str) -> dict[str, float]:
    picked = probs[np.arange(len(labels)), np.asarray(labels, dtype=int)]
    return {f"{prefix}_accuracy": _accuracy(probs, labels),
            f"{prefix}_loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))}


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels, dtype=int)))

