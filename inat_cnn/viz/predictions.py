"""The prediction grid: a fixed, class-covering sample of test images with true and predicted labels.

Sample: for each class (all of them up to MAX_GRID_CLASSES, else that many evenly
spaced class ids) the first ``per_class`` test images of that class in test-split
order, which is the sorted file order: the same images for every trial on one
split, so trials are comparable. 10 classes -> the 10x3 grid (one row per class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from ..models.predict import predict_probs
from .figures import GREEN, PRED_CELL_PX, RED, TITLE_BAND_PX, new_figure, save_png, show_image

MAX_GRID_CLASSES = 20
PER_CLASS = 3


@dataclass(frozen=True)
class Cell:
    """One grid image: its index in the split, true and predicted class ids, confidence."""

    index: int
    true: int
    pred: int
    confidence: float

    @property
    def correct(self) -> bool:
        return self.true == self.pred


def grid_classes(num_classes: int, max_classes: int = MAX_GRID_CLASSES) -> list[int]:
    """Class ids shown as rows: all of them, or ``max_classes`` evenly spaced ones."""
    if num_classes <= max_classes:
        return list(range(num_classes))
    return sorted({int(round(v)) for v in np.linspace(0, num_classes - 1, max_classes)})


def grid_sample(labels: np.ndarray, num_classes: int, per_class: int = PER_CLASS,
                max_classes: int = MAX_GRID_CLASSES) -> list[list[int]]:
    """One row of split indices per shown class: its first ``per_class`` images (fewer if it has fewer)."""
    labels = np.asarray(labels)
    return [[int(i) for i in np.flatnonzero(labels == c)[:per_class]] for c in grid_classes(num_classes, max_classes)]


def prediction_cells(probs: np.ndarray | Mapping[int, np.ndarray], labels: np.ndarray,
                     sample: list[list[int]]) -> list[list[Cell]]:
    """The sample's cells with argmax predictions and their softmax confidence (``probs[i]``: image i)."""
    return [[Cell(i, int(labels[i]), int(np.argmax(probs[i])), float(np.max(probs[i]))) for i in row]
            for row in sample]


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def draw_prediction_grid(x: np.ndarray, rows: list[list[Cell]], class_names: Sequence[str], row_classes: list[int],
                         title: str, per_class: int = PER_CLASS) -> Figure:
    """Rows of ``per_class`` images; under each ``true: ...`` and ``pred: ... (p%)`` in green/red."""
    cell_w, cell_h = PRED_CELL_PX
    height = cell_h * len(rows) + TITLE_BAND_PX
    fig = new_figure(cell_w * per_class, height)
    fig.text(0.5, 1 - (TITLE_BAND_PX / 2) / height, title, ha="center", va="center", fontsize=10)
    grid = fig.add_gridspec(len(rows), per_class, left=0.02, right=0.98, top=1 - TITLE_BAND_PX / height,
                            bottom=0.0, hspace=0.0, wspace=0.1)
    for r, row in enumerate(rows):
        for c in range(per_class):
            ax = fig.add_subplot(grid[r, c])
            ax.set_position(_shrink(ax.get_position(), 0.72))
            if c >= len(row):
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"no test image\nof {_short(class_names[row_classes[r]])}", ha="center",
                        va="center", fontsize=8, transform=ax.transAxes)
                continue
            cell = row[c]
            colour = GREEN if cell.correct else RED
            show_image(ax, np.asarray(x[cell.index], np.uint8))
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
            ax.text(0.5, -0.04, f"true: {_short(class_names[cell.true])}", ha="center", va="top", fontsize=8,
                    transform=ax.transAxes)
            ax.text(0.5, -0.16, f"pred: {_short(class_names[cell.pred])} ({cell.confidence:.0%})", ha="center",
                    va="top", fontsize=8, color=colour, transform=ax.transAxes, fontweight="bold")
    return fig


def _shrink(box: Bbox, keep: float) -> Bbox:
    """Keep the top ``keep`` share of a subplot's height for the image; the rest holds the labels."""
    return Bbox.from_bounds(box.x0, box.y1 - box.height * keep, box.width, box.height * keep)


def plot_predictions(model: keras.Model, x: np.ndarray, y: np.ndarray, class_names: Sequence[str], out: Path,
                     probs: np.ndarray | None = None, split: str = "test") -> tuple[Path, list[list[Cell]]]:
    """Predict (unless ``probs`` is given), draw the grid, write the PNG; returns (path, cells)."""
    sample = grid_sample(y, len(class_names))
    if probs is None:
        flat = [i for row in sample for i in row]
        sub = predict_probs(model, np.stack([np.asarray(x[i]) for i in flat])) if flat else []
        probs = {i: sub[k] for k, i in enumerate(flat)}
    rows = prediction_cells(probs, y, sample)
    shown = sum(len(r) for r in rows)
    right = sum(cell.correct for r in rows for cell in r)
    title = (f"Predictions on {shown} {split} images (first {PER_CLASS} of each class): "
             f"{right}/{shown} right (green), wrong in red")
    fig = draw_prediction_grid(x, rows, class_names, grid_classes(len(class_names)), title)
    return save_png(fig, out), rows
