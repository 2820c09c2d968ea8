"""PNG copies of the report's plots, drawn with matplotlib (kaleido is not available offline).

Uses matplotlib's object API (Figure, no pyplot): no GUI backend, no global state.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .. import atomic
from .plotdata import CurveData, ImportanceData, ParallelData, PlotData


def save_png(data: PlotData, path: Path) -> Path:
    """Draw ``data`` with matplotlib into ``path`` (PNG)."""
    if isinstance(data, ParallelData):
        fig = _parallel(data)
    elif isinstance(data, CurveData):
        fig = _curves(data)
    elif isinstance(data, ImportanceData):
        fig = _importance(data)
    else:
        raise TypeError(f"no PNG renderer for {type(data).__name__}")
    fig.suptitle(data.title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.save_figure(fig, path, dpi=110)
    return path


def _parallel(data: ParallelData) -> Figure:
    fig = Figure(layout="constrained", figsize=(max(6, 1.6 * len(data.axes)), 4.5))
    ax = fig.subplots()
    scaled = [_scaled(axis.values, axis.values) for axis in data.axes]
    cmap = matplotlib.colormaps["viridis"]
    low, high = min(data.color), max(data.color)
    if high == low:  # one trial, or all equal: a zero-height colour bar collapses the layout
        low, high = low - 0.01, high + 0.01
    xs = list(range(len(data.axes)))
    for i, value in enumerate(data.color):
        shade = (value - low) / (high - low)
        ax.plot(xs, [column[i] for column in scaled], color=cmap(shade), alpha=0.8)
    for x, axis in zip(xs, data.axes):
        ax.axvline(x, color="black", linewidth=0.8)
        ticks = axis.tickvals or sorted({min(axis.values), max(axis.values)})
        labels = axis.ticktext or [f"{v:.3g}" for v in ticks]
        for pos, label in zip(_scaled(ticks, axis.values), labels):
            ax.text(x + 0.03, pos, label, fontsize=7, va="center")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, [a.label for a in data.axes], rotation=20, fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(xs) - 0.6 if len(xs) > 1 else 0.8)
    sm = ScalarMappable(cmap=cmap, norm=Normalize(low, high))
    fig.colorbar(sm, ax=ax, label=data.color_label)
    return fig


def _scaled(values: list[float], reference: list[float]) -> list[float]:
    """``values`` mapped to 0..1 over the range of ``reference`` (0.5 when it is constant)."""
    low, high = min(reference), max(reference)
    if high == low:
        return [0.5 for _ in values]
    return [(v - low) / (high - low) for v in values]


def _curves(data: CurveData) -> Figure:
    fig = Figure(layout="constrained", figsize=(6 * len(data.panels), 4.2))
    axes = fig.subplots(1, len(data.panels), squeeze=False)
    for ax, panel in zip(axes[0], data.panels):
        for series in panel.series:
            ax.plot(series.x, series.y, marker="o", label=series.name)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return fig


def _importance(data: ImportanceData) -> Figure:
    rows = list(reversed(data.rows))
    fig = Figure(layout="constrained", figsize=(9, max(3, 0.35 * len(rows) + 1.2)))
    left, right = fig.subplots(1, 2, sharey=True)
    names = [r.name for r in rows]
    left.barh(names, [r.importance for r in rows], color="#1f77b4")
    left.set_xlabel("importance")
    correlations = [r.correlation or 0.0 for r in rows]
    right.barh(names, correlations, color=["#2ca02c" if c >= 0 else "#d62728" for c in correlations])
    right.set_xlim(-1, 1)
    right.set_xlabel("correlation")
    return fig
