"""The confusion matrix: counted once here (trial figures and `inat-cnn evaluate` both use it) and drawn
with the per-class accuracy (recall) on the y axis labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .figures import CONFUSION_SIZE, new_figure, save_png

ANNOTATE_UP_TO = 30  # classes; above that the counts would not be readable


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts (C, C) with rows = true class, per-class accuracy (C,); NaN for a class with no images)."""
    cm = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm, class_accuracy(cm)


def class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per-class accuracy (recall) of counts ``cm`` (rows: true class); NaN for a class with no images."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], out: Path,
                   split: str = "test") -> Path:
    """Write ``draw_confusion`` of these labels as a PNG."""
    counts, _ = confusion(y_true, y_pred, len(class_names))
    return save_png(draw_confusion(counts, class_names, split), out)


def draw_confusion(cm: np.ndarray, class_names: Sequence[str], split: str = "test") -> Figure:
    """CONFUSION_SIZE figure of counts ``cm`` (rows: true class): row-normalised colours, raw counts in the
    cells, accuracy per true class."""
    n = len(class_names)
    per_class = class_accuracy(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    total = int(cm.sum())
    overall = float(np.trace(cm)) / total if total else float("nan")
    fig = new_figure(*CONFUSION_SIZE)
    ax = fig.add_axes((0.28, 0.2, 0.66, 0.7))
    ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    ticks = list(range(n))
    ax.set_xticks(ticks, [str(name) for name in class_names], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, [f"{name} ({'n/a' if np.isnan(a) else f'{a:.0%}'})"
                          for name, a in zip(class_names, per_class)], fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (per-class accuracy)")
    if n <= ANNOTATE_UP_TO:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.suptitle(f"Confusion matrix on {total} {split} images: accuracy {overall:.1%}", fontsize=12, y=0.97)
    return fig
