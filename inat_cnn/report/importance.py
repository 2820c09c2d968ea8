"""Parameter importance the way W&B's panel computes it.

Features are the swept parameters (numbers as they are, booleans as 0/1,
anything else one-hot encoded as ``name=value`` columns); a random forest
regresses the metric on them and its impurity importances (summing to 1) rank
the columns; the linear (Pearson) correlation of each column with the metric
gives the direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .records import SweepResult

MIN_TRIALS = 3


@dataclass(frozen=True)
class Importance:
    """One feature column: ``name`` is the parameter, or ``parameter=value`` for a one-hot column."""

    name: str
    parameter: str
    importance: float
    correlation: float | None


def feature_matrix(rows: list[dict[str, Any]], names: list[str]) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """(X, columns): one float column per numeric parameter, one per category otherwise.

    ``columns`` holds (column name, parameter). Missing numbers get the column's
    mean; a missing category is its own category "None".
    """
    columns: list[np.ndarray] = []
    labels: list[tuple[str, str]] = []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(_is_number(v) for v in present):
            numbers = np.array([float(v) if v is not None else math.nan for v in values])
            numbers[np.isnan(numbers)] = np.nanmean(numbers)
            columns.append(numbers)
            labels.append((name, name))
            continue
        categories = sorted({_category(v) for v in values})
        for category in categories:
            columns.append(np.array([1.0 if _category(v) == category else 0.0 for v in values]))
            labels.append((f"{name}={category}", name))
    matrix = np.stack(columns, axis=1) if columns else np.zeros((len(rows), 0))
    return matrix, labels


def parameter_importance(rows: list[dict[str, Any]], values: list[float], names: list[str],
                         *, seed: int = 0, trees: int = 200) -> list[Importance]:
    """Importance and correlation of every feature column, most important first."""
    from sklearn.ensemble import RandomForestRegressor

    if len(rows) != len(values):
        raise ValueError(f"{len(rows)} parameter rows but {len(values)} metric values")
    matrix, labels = feature_matrix(rows, names)
    if not labels or len(rows) < MIN_TRIALS:
        return []
    target = np.asarray(values, dtype=float)
    if np.ptp(target) == 0:
        importances = np.zeros(len(labels))
    else:
        forest = RandomForestRegressor(n_estimators=trees, random_state=seed, n_jobs=1)
        importances = forest.fit(matrix, target).feature_importances_
    result = [Importance(label, parameter, float(imp), _correlation(matrix[:, i], target))
              for i, ((label, parameter), imp) in enumerate(zip(labels, importances))]
    return sorted(result, key=lambda r: (-r.importance, r.name))


def sweep_importance(result: SweepResult) -> list[Importance]:
    """Importance over the trials that reached a metric value (finished and pruned)."""
    trials = result.ranked(("finished", "pruned"))
    rows = [{name: t.params.get(name, t.config.get(name)) for name in result.swept} for t in trials]
    return parameter_importance(rows, [t.value for t in trials], result.swept)


def by_parameter(importances: list[Importance]) -> dict[str, float]:
    """Importance summed over each parameter's one-hot columns, most important first."""
    totals: dict[str, float] = {}
    for row in importances:
        totals[row.parameter] = totals.get(row.parameter, 0.0) + row.importance
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _correlation(column: np.ndarray, target: np.ndarray) -> float | None:
    if np.std(column) == 0 or np.std(target) == 0:
        return None
    return float(np.corrcoef(column, target)[0, 1])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, bool, np.integer, np.floating))


def _category(value: Any) -> str:
    return "None" if value is None else str(value)
