"""The small figure of an ensemble's judgement: test accuracy against the number of members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic


def accuracy_vs_members_png(judged: Any, path: Path) -> Path | None:
    """Mean of the first n members (rank order) vs n independently trained copies of the best configuration,
    with the fitted aggregations as points at the full size; written atomically. None when nothing was measured."""
    from matplotlib.figure import Figure

    if not judged.curve:
        return None
    fig = Figure(layout="constrained", figsize=(4.2, 2.8))
    ax = fig.subplots()
    ax.plot(*zip(*judged.curve), marker="o", label=f"mean of the first n ({judged.kind})")
    if judged.baseline_curve:
        ax.plot(*zip(*judged.baseline_curve), marker="s", linestyle="--", label="n copies of the best config")
    full = len(judged.members)
    for name, marker in (("greedy", "^"), ("stacked", "D")):
        value = judged.aggregations.get(name, {}).get("test_accuracy")
        if value is not None:
            ax.plot([full], [value], marker=marker, linestyle="none", label=name)
    ax.set_xlabel("members")
    ax.set_ylabel("test accuracy")
    ax.set_xticks(range(1, max(full, len(judged.baseline_curve)) + 1))
    ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.save_figure(fig, path, dpi=100)
    return path
